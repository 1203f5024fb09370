#!/usr/bin/env python3
"""Verify an SD-JWT+KB presentation with the PyPI `sd-jwt` reference library.

Reads JSON from stdin: {"presentation", "issuer_jwk", "audience", "nonce"}.
Prints the verified claims as JSON and exits 0, or prints the reason to
stderr and exits 1. Needs `pip install sd-jwt` (which brings jwcrypto).

The library checks signatures, digests, duplicates, sd_hash, aud and nonce,
but not the issuer `typ` (SD-JWT VC wants `dc+sd-jwt`), so that is checked
here; it does not check exp/nbf/iat either, which the Rust tests cover.
"""

import json
import sys

from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

EXPECTED_TYP = "dc+sd-jwt"


def main() -> int:
    request = json.load(sys.stdin)
    issuer_key = JWK.from_json(json.dumps(request["issuer_jwk"]))

    def issuer_key_for(_issuer, header):
        if header.get("typ") != EXPECTED_TYP:
            raise ValueError(f"issuer JWT typ is {header.get('typ')!r}, not {EXPECTED_TYP!r}")
        if header.get("alg") != "ES256":
            raise ValueError("issuer JWT is not ES256")
        return issuer_key

    try:
        verifier = SDJWTVerifier(
            request["presentation"],
            issuer_key_for,
            expected_aud=request["audience"],
            expected_nonce=request["nonce"],
        )
        claims = verifier.get_verified_payload()
    except Exception as error:  # the library raises several exception types
        print(f"verification failed: {error}", file=sys.stderr)
        return 1
    json.dump(claims, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
