"""End-to-end fault scenarios: the real handle binary through scripts/faultproxy.py (see support.py)."""
