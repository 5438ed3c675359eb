"""History: the audit log, replay and verification, what-if, exports and archives."""
