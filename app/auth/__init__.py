"""Authentication: local accounts and password hashing (sign-in routes build on this)."""
