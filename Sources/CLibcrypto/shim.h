// OpenSSL's libcrypto (EVP): gossip's ChaCha20-Poly1305 and SHA-256, from a library every Debian board has.
#include <openssl/evp.h>
