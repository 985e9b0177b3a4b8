"""Helpers shared by several apps. Nothing in this package imports an app."""
