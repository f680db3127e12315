"""Stand-ins for what lies outside this machine, at its network boundary, shared by the test suite and
`make bench`: a real SMTP server (aiosmtpd) and FCM endpoints for the real Firebase Admin SDK."""
