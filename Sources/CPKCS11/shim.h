// The PKCS#11 (Cryptoki) C API, from Debian's p11-kit header (libp11-kit-dev), with its GNU
// names (ck_attribute, value, value_len…). Modules are loaded with dlopen, so nothing links
// against p11-kit itself.
#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>
#include <dlfcn.h>
