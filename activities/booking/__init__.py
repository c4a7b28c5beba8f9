"""Booking-platform adapters: read appointments back from Mindbody, Boulevard and others."""
