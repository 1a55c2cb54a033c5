"""Access tokens (signed JWTs), refresh tokens (sealed), and the signing-key ring."""
