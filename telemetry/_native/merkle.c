/* telemetry._native.merkle — RFC 9162 Merkle roots of LF-separated lines, in C.
 *
 * The pure-Python definition is telemetry/merkle.py; this module computes the same
 * roots without a Python call per line (a sealed month of a large site is 10^7-10^8
 * lines, and Python spends ~0.6 µs of interpreter time on each leaf and node, against
 * ~0.1 µs of hashing). SHA-256 comes from the libcrypto that CPython's hashlib already
 * uses, looked up at import (dlopen), so building needs only a C compiler and Python's
 * headers; without libcrypto the import fails and telemetry.merkle stays in Python.
 * Hashing runs with the GIL released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSL's SHA256_CTX is 112 bytes in every release since 0.9.8; room to spare */
typedef struct { _Alignas(16) unsigned char opaque[256]; } sha_ctx;
typedef int (*init_fn)(sha_ctx *);
typedef int (*update_fn)(sha_ctx *, const void *, size_t);
typedef int (*final_fn)(unsigned char *, sha_ctx *);
static init_fn sha_init;
static update_fn sha_update;
static final_fn sha_final;

static sha_ctx leaf_start, node_start; /* states after the 0x00 / 0x01 prefix */

static void leaf(const unsigned char *p, size_t n, unsigned char *out) {
    sha_ctx c = leaf_start;
    sha_update(&c, p, n);
    sha_final(out, &c);
}

/* bottom-up over `n` leaf hashes in `h` (32 bytes each), in place: pairing left to right
 * and carrying an odd last node up unchanged is exactly RFC 9162's split at the largest
 * power of two below n */
static void reduce(unsigned char *h, size_t n, unsigned char *root) {
    while (n > 1) {
        size_t half = n / 2;
        for (size_t i = 0; i < half; i++) {
            sha_ctx c = node_start;
            sha_update(&c, h + 64 * i, 64);
            sha_final(h + 32 * i, &c);
        }
        if (n % 2) memmove(h + 32 * half, h + 32 * (n - 1), 32);
        n = half + n % 2;
    }
    memcpy(root, h, 32);
}

static const unsigned char EMPTY[32] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};

static PyObject *root(PyObject *Py_UNUSED(self), PyObject *arg) {
    PyObject *seq = PySequence_Fast(arg, "root() takes a sequence of bytes");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    unsigned char out[32];
    if (n == 0) {
        Py_DECREF(seq);
        return PyBytes_FromStringAndSize((const char *)EMPTY, 32);
    }
    PyObject **held = PyMem_Malloc(sizeof(PyObject *) * (size_t)n);
    unsigned char *h = PyMem_RawMalloc(32 * (size_t)n);
    if (held == NULL || h == NULL) {
        PyMem_Free(held);
        PyMem_RawFree(h);
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_Check(items[i])) {
            for (Py_ssize_t j = 0; j < i; j++) Py_DECREF(held[j]);
            PyMem_Free(held);
            PyMem_RawFree(h);
            Py_DECREF(seq);
            PyErr_Format(PyExc_TypeError, "line %zd is %.100s, not bytes", i,
                         Py_TYPE(items[i])->tp_name);
            return NULL;
        }
        Py_INCREF(items[i]); /* another thread may change the list while unlocked */
        held[i] = items[i];
    }
    Py_DECREF(seq);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++)
        leaf((const unsigned char *)PyBytes_AS_STRING(held[i]), (size_t)PyBytes_GET_SIZE(held[i]),
             h + 32 * i);
    reduce(h, (size_t)n, out);
    Py_END_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) Py_DECREF(held[i]);
    PyMem_Free(held);
    PyMem_RawFree(h);
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

/* the text after a line's last space, as the integer nanoseconds it must be:
 * an optional '-' and digits, within int64; 0 when it is not */
static int timestamp(const unsigned char *p, size_t n, int64_t *out) {
    size_t i = n;
    while (i > 0 && p[i - 1] != ' ') i--;
    const unsigned char *t = p + i;
    size_t len = n - i;
    int neg = len > 0 && t[0] == '-';
    t += neg;
    len -= (size_t)neg;
    if (len == 0) return 0;
    const uint64_t limit = (uint64_t)INT64_MAX + (uint64_t)neg;
    uint64_t v = 0;
    for (size_t k = 0; k < len; k++) {
        if (t[k] < '0' || t[k] > '9') return 0;
        uint64_t d = (uint64_t)(t[k] - '0');
        if (v > (limit - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

static PyObject *scan(PyObject *Py_UNUSED(self), PyObject *arg) {
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *p = buf.buf, *end = p + buf.len;
    size_t n = 0;
    for (const unsigned char *q = p; q < end; q++) n += *q == '\n';
    if (buf.len > 0 && p[buf.len - 1] != '\n') n++; /* a last line without its LF */
    unsigned char *h = PyMem_RawMalloc(32 * (n ? n : 1));
    if (h == NULL) {
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    unsigned char out[32];
    int64_t lo = 0, hi = 0;
    size_t bad = 0;
    Py_BEGIN_ALLOW_THREADS
    const unsigned char *q = p;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *lf = memchr(q, '\n', (size_t)(end - q));
        size_t len = lf ? (size_t)(lf - q) : (size_t)(end - q);
        leaf(q, len, h + 32 * i);
        int64_t t;
        if (!bad) {
            if (!timestamp(q, len, &t)) bad = i + 1;
            else if (i == 0) lo = hi = t;
            else {
                if (t < lo) lo = t;
                if (t > hi) hi = t;
            }
        }
        q += len + 1;
    }
    if (bad) lo = hi = 0;
    if (n) reduce(h, n, out);
    else memcpy(out, EMPTY, 32);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(h);
    PyBuffer_Release(&buf);
    return Py_BuildValue("(ny#LLn)", (Py_ssize_t)n, (const char *)out, (Py_ssize_t)32,
                         (long long)lo, (long long)hi, (Py_ssize_t)bad);
}

static PyMethodDef methods[] = {
    {"root", root, METH_O,
     "root(lines) -> bytes: the RFC 9162 Merkle Tree Hash of a sequence of bytes."},
    {"scan", scan, METH_O,
     "scan(data) -> (n, root, first_ns, last_ns, bad): the LF-separated lines of `data` "
     "(a final LF ends the last line), their Merkle root, their least and greatest "
     "timestamps, and the 1-based number of the first line whose text after its last "
     "space is not an int64 (0 when every line has one; the times are then valid)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "merkle", NULL, -1, methods, NULL, NULL, NULL, NULL};

static const char *const LIBS[] = {"libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so",
                                   "libcrypto.3.dylib", "libcrypto.dylib", NULL};

PyMODINIT_FUNC PyInit_merkle(void) {
    void *lib = NULL;
    for (int i = 0; LIBS[i] && !lib; i++) lib = dlopen(LIBS[i], RTLD_NOW | RTLD_LOCAL);
    if (lib != NULL) {
        sha_init = (init_fn)dlsym(lib, "SHA256_Init");
        sha_update = (update_fn)dlsym(lib, "SHA256_Update");
        sha_final = (final_fn)dlsym(lib, "SHA256_Final");
    }
    if (!sha_init || !sha_update || !sha_final) {
        PyErr_SetString(PyExc_ImportError, "no libcrypto with SHA256_Init found");
        return NULL;
    }
    sha_init(&leaf_start);
    sha_update(&leaf_start, "\x00", 1);
    sha_init(&node_start);
    sha_update(&node_start, "\x01", 1);
    return PyModule_Create(&module);
}
