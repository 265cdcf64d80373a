"""Dashboard tests in Debian's Chromium (a package: they share one stack, see conftest)."""
