"""Matching service: municipalities meet companies and advisers."""
