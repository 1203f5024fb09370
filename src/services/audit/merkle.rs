//! The RFC 9162 (Certificate Transparency v2) Merkle tree over audit
//! entries: tree head (§2.1.1), inclusion proofs (§2.1.3) and consistency
//! proofs (§2.1.4), with the RFC's verification algorithms. Pure functions
//! over SHA-256 (ring); the server builds proofs from the leaves the
//! database holds, auditors verify them against checkpoints they pinned.
//! Checked against the published RFC 6962 / certificate-transparency-go
//! vectors and by property tests below.

/// A SHA-256 output: a leaf hash, a node hash or a tree head.
pub type Hash = [u8; 32];

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// `SHA-256(0x00 || leaf)`: the hash of one leaf.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    sha256(&[&[0x00], leaf])
}

/// `SHA-256(0x01 || left || right)`: an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

/// The largest power of two smaller than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH over the given leaf hashes (§2.1.1); the empty tree is SHA-256 of
/// the empty string.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => sha256(&[]),
        [one] => *one,
        _ => {
            let (left, right) = leaves.split_at(split(leaves.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

/// PATH(index, D[n]) (§2.1.3.1): the inclusion proof of leaf `index` in the
/// tree of all `leaves`. `None` when `index` is not in the tree.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(leaves, index, &mut proof);
    Some(proof)
}

fn path(leaves: &[Hash], m: usize, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    let (left, right) = leaves.split_at(k);
    if m < k {
        path(left, m, out);
        out.push(root(right));
    } else {
        path(right, m - k, out);
        out.push(root(left));
    }
}

/// PROOF(m, D[n]) (§2.1.4.1): the consistency proof from the tree of the
/// first `m` leaves to the tree of all `leaves`. Empty when `m` is 0 or
/// the whole tree; `None` when `m` exceeds it.
pub fn consistency_proof(leaves: &[Hash], m: usize) -> Option<Vec<Hash>> {
    if m > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    if m > 0 {
        subproof(leaves, m, true, &mut proof);
    }
    Some(proof)
}

fn subproof(leaves: &[Hash], m: usize, whole: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !whole {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    let (left, right) = leaves.split_at(k);
    if m <= k {
        subproof(left, m, whole, out);
        out.push(root(right));
    } else {
        subproof(right, m - k, false, out);
        out.push(root(left));
    }
}

/// Verifies an inclusion proof (§2.1.3.2): `leaf` is at `index` in the tree
/// of `size` leaves whose head is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Verifies a consistency proof (§2.1.4.2): the tree of `first` leaves with
/// head `first_root` is a prefix of the tree of `second` leaves with head
/// `second_root`. Equal sizes need an empty proof and equal heads; the
/// empty tree is a prefix of every tree.
pub fn verify_consistency(
    first: u64,
    second: u64,
    proof: &[Hash],
    first_root: &Hash,
    second_root: &Hash,
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let Some((&start, rest)) = path.split_first() else { return false };
    let (mut fr, mut sr) = (start, start);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *first_root && sr == *second_root && sn == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn h(text: &str) -> Hash {
        hex(text).try_into().unwrap()
    }

    /// The leaves of the RFC 6962 / certificate-transparency-go test tree.
    fn vector_leaves() -> Vec<Hash> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|l| leaf_hash(&hex(l)))
        .collect()
    }

    /// Tree heads of the first 1..=8 leaves (certificate-transparency-go
    /// `merkle_tree_test.go`, `rootsAtSize`).
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn tree_heads_match_the_published_vectors() {
        assert_eq!(
            root(&[]),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        let leaves = vector_leaves();
        for (n, expected) in ROOTS.iter().enumerate() {
            assert_eq!(root(&leaves[..=n]), h(expected), "size {}", n + 1);
        }
    }

    #[test]
    fn proofs_match_the_published_vectors() {
        let leaves = vector_leaves();
        // certificate-transparency-go `inclusionProofs`: (leaf, size, path).
        let inclusion: [(usize, usize, &[&str]); 4] = [
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        ];
        for (index, size, path) in inclusion {
            let expected: Vec<Hash> = path.iter().map(|p| h(p)).collect();
            assert_eq!(inclusion_proof(&leaves[..size], index), Some(expected.clone()));
            let head = root(&leaves[..size]);
            assert!(verify_inclusion(index as u64, size as u64, &leaves[index], &expected, &head));
        }
        // certificate-transparency-go `consistencyProofs`: (m, n, proof).
        let consistency: [(usize, usize, &[&str]); 3] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (m, n, proof) in consistency {
            let expected: Vec<Hash> = proof.iter().map(|p| h(p)).collect();
            assert_eq!(consistency_proof(&leaves[..n], m), Some(expected.clone()));
            let (first, second) = (root(&leaves[..m]), root(&leaves[..n]));
            assert!(verify_consistency(m as u64, n as u64, &expected, &first, &second));
        }
    }

    fn tree(size: usize) -> Vec<Hash> {
        (0..size).map(|i| leaf_hash(&(i as u64).to_be_bytes())).collect()
    }

    proptest! {
        #[test]
        fn every_inclusion_proof_verifies_and_a_changed_leaf_or_size_fails(
            size in 1usize..70, pick in any::<prop::sample::Index>(),
        ) {
            let leaves = tree(size);
            let index = pick.index(size);
            let head = root(&leaves);
            let proof = inclusion_proof(&leaves, index).unwrap();
            prop_assert!(verify_inclusion(index as u64, size as u64, &leaves[index], &proof, &head));
            let other = leaf_hash(b"not in the tree");
            prop_assert!(!verify_inclusion(index as u64, size as u64, &other, &proof, &head));
            prop_assert!(!verify_inclusion(index as u64, size as u64 * 2, &leaves[index], &proof, &head));
            if size > 1 {
                let moved = (index + 1) % size;
                prop_assert!(!verify_inclusion(moved as u64, size as u64, &leaves[index], &proof, &head));
            }
            prop_assert!(!verify_inclusion(size as u64, size as u64, &leaves[index], &proof, &head));
        }

        #[test]
        fn every_consistency_proof_verifies_and_a_rewrite_or_size_change_fails(
            size in 1usize..70, pick in any::<prop::sample::Index>(), edit in any::<prop::sample::Index>(),
        ) {
            let leaves = tree(size);
            let m = pick.index(size) + 1;
            let (first, second) = (root(&leaves[..m]), root(&leaves));
            let proof = consistency_proof(&leaves, m).unwrap();
            prop_assert!(verify_consistency(m as u64, size as u64, &proof, &first, &second));
            // A leaf of the first tree rewritten: the new tree is no extension.
            let mut rewritten = leaves.clone();
            rewritten[edit.index(m)] = leaf_hash(b"rewritten");
            let forged_head = root(&rewritten);
            let forged = consistency_proof(&rewritten, m).unwrap();
            prop_assert!(!verify_consistency(m as u64, size as u64, &forged, &first, &forged_head));
            // Wrong sizes fail too.
            if m < size {
                prop_assert!(!verify_consistency(m as u64 + 1, size as u64, &proof, &first, &second));
                prop_assert!(!verify_consistency(size as u64, m as u64, &proof, &second, &first));
            }
        }
    }
}
