"""Optional integrations built on the kit's hooks (each needs its own extra)."""
