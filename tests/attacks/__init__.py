"""Attack tests: each drives one attack end to end over HTTP and asserts on what the attacker would gain."""
