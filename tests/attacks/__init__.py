"""Attack tests: each drives one attack end to end and asserts on what the attacker would gain."""
