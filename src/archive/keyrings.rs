//! Debian's archive keys for bookworm (from debian-archive-keyring), compiled in so a host without that package can verify.

/// One binary OpenPGP keyring, as gpgv reads it.
#[derive(Debug, Clone, Copy)]
pub struct Keyring {
    pub name: &'static str,
    pub bytes: &'static [u8],
}

/// The keys that sign bookworm's Release files: the stable release key, the archive's
/// automatic key and the security archive's.
pub const DEBIAN_BOOKWORM: [Keyring; 3] = [
    Keyring {
        name: "debian-archive-bookworm-stable.gpg",
        bytes: include_bytes!("../../packaging/keyrings/debian-archive-bookworm-stable.gpg"),
    },
    Keyring {
        name: "debian-archive-bookworm-automatic.gpg",
        bytes: include_bytes!("../../packaging/keyrings/debian-archive-bookworm-automatic.gpg"),
    },
    Keyring {
        name: "debian-archive-bookworm-security-automatic.gpg",
        bytes: include_bytes!(
            "../../packaging/keyrings/debian-archive-bookworm-security-automatic.gpg"
        ),
    },
];

/// The bytes of [`DEBIAN_BOOKWORM`], as [`super::verify`] takes keyrings.
pub fn debian_bookworm() -> Vec<&'static [u8]> {
    DEBIAN_BOOKWORM.iter().map(|k| k.bytes).collect()
}
