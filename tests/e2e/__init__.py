"""End-to-end tests: the real gateway process against fake upstreams, through real SDKs."""
