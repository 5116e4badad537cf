"""The conformance matrix: every client format against every upstream format."""
