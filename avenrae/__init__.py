"""Avenrae: the operations platform of a South African practitioner marketplace."""
