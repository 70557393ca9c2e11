//! The signed, atomic apt repository: publish debs into `pool/` and `dists/`.
