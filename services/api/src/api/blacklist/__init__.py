"""The operator's manual blacklist (never lifted by a re-opt-in keyword)."""
