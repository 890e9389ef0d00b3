// libsodium: gossip's ChaCha20-Poly1305 (IETF, RFC 8439) and SHA-256, from a small Debian library.
#include <sodium.h>
