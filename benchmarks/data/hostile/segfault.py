"""Segfault the interpreter through ctypes (refused by the audit hook; otherwise SIGSEGV, contained)."""
import ctypes

ctypes.string_at(0)
