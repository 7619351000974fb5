"""Subsidy service: what a municipality or business receives under each program, and why."""
