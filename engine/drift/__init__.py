"""``turnout drift``: what the usage log says about the current policy (rules that never
match, aliases, models and channels without traffic, channels that almost always fail over,
models whose cost per request drifted from the policy's estimate)."""
