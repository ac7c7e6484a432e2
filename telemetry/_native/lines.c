/* telemetry._native.lines — one batch of line protocol split for DuckdbStore's bulk loader.
 *
 * The loader (telemetry/store/duck.py, LineLoader) takes a plain canonical line
 * (PLAIN_LINE in telemetry/store/_split.py) apart in SQL and every other line through decode_line. Doing the
 * first step of that in SQL — matching the pattern and splitting each line into its
 * series part, field part and time — is most of a month's load (10^7-10^8 lines of
 * string functions). Here it is one pass in C: each plain line becomes three integers
 * (its series part and field part as indexes into the batch's distinct ones, and its
 * time), so DuckDB casts each distinct field part once and joins integers. The Python
 * road (telemetry.store._split.python_split) gives the same result; tests compare them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* fields checked for a repeated key in one line; a longer line goes to decode_line */
#define MAX_FIELDS 64

/* byte classes, looked up rather than compared: the matcher visits every byte */
enum { WORD = 1, NAME = 2, DIGIT = 4 };
static unsigned char classes[256];

static void init_classes(void) {
    for (int c = 0; c < 256; c++) {
        int word = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '_';
        /* PLAIN_LINE's _NAME: any byte but space , = " \ and the controls (the text is UTF-8) */
        int name = c != ' ' && c != ',' && c != '=' && c != '"' && c != '\\' && c > 0x1f &&
                   c != 0x7f;
        classes[c] = (unsigned char)((word ? WORD : 0) | (name ? NAME : 0) |
                                     (c >= '0' && c <= '9' ? DIGIT : 0));
    }
}

static int is_word(unsigned char c) { return classes[c] & WORD; }
static int is_digit(unsigned char c) { return classes[c] & DIGIT; }
static int is_name(unsigned char c) { return classes[c] & NAME; }

/* digits from p[*i]; their count */
static size_t digits(const unsigned char *p, size_t n, size_t *i) {
    size_t start = *i;
    while (*i < n && is_digit(p[*i])) (*i)++;
    return *i - start;
}

/* PLAIN_LINE's _VALUE over the whole of p[0..n) */
static int plain_value(const unsigned char *p, size_t n) {
    if ((n == 4 && memcmp(p, "true", 4) == 0) || (n == 5 && memcmp(p, "false", 5) == 0))
        return 1;
    size_t i = p[0] == '-';
    size_t d = digits(p, n, &i);
    if (d == 0) return 0;
    if (i == n - 1 && p[i] == 'i') return d <= 18;
    int frac = 0;
    if (i < n && p[i] == '.') {
        i++;
        if (digits(p, n, &i) == 0) return 0;
        frac = 1;
    }
    if (i == n) return frac;
    if (p[i] != 'e' || i + 2 >= n || (p[i + 1] != '+' && p[i + 1] != '-')) return 0;
    i += 2;
    size_t e = digits(p, n, &i);
    return i == n && e >= 1 && e <= 2;
}

/* PLAIN_LINE's time: -?[0-9]{1,18} or [1-8][0-9]{18}, always an int64 */
static int plain_time(const unsigned char *p, size_t n, int64_t *out) {
    size_t neg = n > 0 && p[0] == '-';
    size_t len = n - neg;
    if (len == 0 || len > 19) return 0;
    for (size_t i = neg; i < n; i++)
        if (!is_digit(p[i])) return 0;
    if (len == 19 && (neg || p[0] < '1' || p[0] > '8')) return 0;
    int64_t v = 0;
    for (size_t i = neg; i < n; i++) v = v * 10 + (p[i] - '0');
    *out = neg ? -v : v;
    return 1;
}

/* whether the line is PLAIN_LINE, with no field key twice; its series part is
 * p[0..*key_end), its field part p[*key_end + 1 .. *fields_end) */
static int plain(const unsigned char *p, size_t n, size_t *key_end, size_t *fields_end,
                 int64_t *time) {
    size_t i = 0;
    while (i < n && is_word(p[i])) i++;
    if (i == 0) return 0;
    while (i < n && p[i] == ',') { /* a tag: name=value */
        size_t s = ++i;
        while (i < n && is_name(p[i])) i++;
        if (i == s || i == n || p[i] != '=') return 0;
        s = ++i;
        while (i < n && is_name(p[i])) i++;
        if (i == s) return 0;
    }
    if (i == n || p[i] != ' ') return 0;
    *key_end = i++;
    size_t keys[MAX_FIELDS], lens[MAX_FIELDS], k = 0;
    for (;;) { /* a field: key=value */
        size_t s = i;
        while (i < n && is_word(p[i])) i++;
        if (i == s || i == n || p[i] != '=') return 0;
        if (k == MAX_FIELDS) return 0;
        for (size_t j = 0; j < k; j++)
            if (lens[j] == i - s && memcmp(p + keys[j], p + s, i - s) == 0) return 0;
        keys[k] = s;
        lens[k++] = i - s;
        s = ++i;
        while (i < n && p[i] != ',' && p[i] != ' ') i++;
        if (i == s || !plain_value(p + s, i - s)) return 0;
        if (i == n) return 0;
        if (p[i] == ' ') break;
        i++;
    }
    *fields_end = i++;
    return plain_time(p + i, n - i, time);
}

/* distinct byte strings of the batch, by first appearance: open addressing over spans */
typedef struct {
    const unsigned char *base;
    size_t *start, *len; /* by index */
    Py_ssize_t *slots;   /* index + 1, or 0 */
    size_t count, cap, nslots;
} dict;

static int dict_init(dict *d, const unsigned char *base) {
    d->base = base;
    d->count = 0;
    d->cap = 64;
    d->nslots = 128;
    d->start = PyMem_RawMalloc(sizeof(size_t) * d->cap);
    d->len = PyMem_RawMalloc(sizeof(size_t) * d->cap);
    d->slots = PyMem_RawCalloc(d->nslots, sizeof(Py_ssize_t));
    return d->start && d->len && d->slots;
}

static void dict_free(dict *d) {
    PyMem_RawFree(d->start);
    PyMem_RawFree(d->len);
    PyMem_RawFree(d->slots);
}

/* a word at a time: the spans hashed are series keys of ~80 bytes, one per line */
static uint64_t span_hash(const unsigned char *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p + i, n - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

/* the index of p[0..n); -1 when out of memory */
static Py_ssize_t dict_get(dict *d, size_t start, size_t n) {
    const unsigned char *p = d->base + start;
    size_t mask = d->nslots - 1, s = (size_t)span_hash(p, n) & mask;
    while (d->slots[s]) {
        size_t i = (size_t)d->slots[s] - 1;
        if (d->len[i] == n && memcmp(d->base + d->start[i], p, n) == 0) return (Py_ssize_t)i;
        s = (s + 1) & mask;
    }
    if (d->count == d->cap) {
        size_t cap = d->cap * 2;
        size_t *a = PyMem_RawRealloc(d->start, sizeof(size_t) * cap);
        if (!a) return -1;
        d->start = a;
        size_t *b = PyMem_RawRealloc(d->len, sizeof(size_t) * cap);
        if (!b) return -1;
        d->len = b;
        d->cap = cap;
    }
    size_t i = d->count++;
    d->start[i] = start;
    d->len[i] = n;
    d->slots[s] = (Py_ssize_t)i + 1;
    if (d->count * 2 > d->nslots) { /* grow and rehash */
        size_t nslots = d->nslots * 2;
        Py_ssize_t *slots = PyMem_RawCalloc(nslots, sizeof(Py_ssize_t));
        if (!slots) return -1;
        for (size_t j = 0; j < d->count; j++) {
            size_t t = (size_t)span_hash(d->base + d->start[j], d->len[j]) & (nslots - 1);
            while (slots[t]) t = (t + 1) & (nslots - 1);
            slots[t] = (Py_ssize_t)j + 1;
        }
        PyMem_RawFree(d->slots);
        d->slots = slots;
        d->nslots = nslots;
    }
    return (Py_ssize_t)i;
}

static PyObject *dict_strings(dict *d) {
    PyObject *out = PyList_New((Py_ssize_t)d->count);
    if (!out) return NULL;
    for (size_t i = 0; i < d->count; i++) {
        PyObject *s = PyUnicode_DecodeUTF8((const char *)d->base + d->start[i],
                                           (Py_ssize_t)d->len[i], "strict");
        if (!s) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, s);
    }
    return out;
}

static PyObject *split(PyObject *Py_UNUSED(self), PyObject *arg) {
    if (!PyBytes_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "split() takes bytes, not %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(arg);
    size_t size = (size_t)PyBytes_GET_SIZE(arg), nl = 0;
    for (const unsigned char *q = p; (q = memchr(q, '\n', size - (size_t)(q - p))); q++) nl++;
    nl += size > 0 && p[size - 1] != '\n';
    size_t cap = nl ? nl : 1;
    int32_t *lines = PyMem_RawMalloc(4 * cap), *keys = PyMem_RawMalloc(4 * cap),
            *fields = PyMem_RawMalloc(4 * cap), *odd = PyMem_RawMalloc(4 * cap);
    int64_t *times = PyMem_RawMalloc(8 * cap);
    dict kd, fd;
    int ok = dict_init(&kd, p) & dict_init(&fd, p);
    PyObject *result = NULL;
    if (!lines || !keys || !fields || !odd || !times || !ok || nl > INT32_MAX) {
        PyErr_NoMemory();
        goto done;
    }
    size_t np = 0, no = 0, at = 0, failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (size_t i = 0; i < nl && !failed; i++) {
        const unsigned char *lf = memchr(p + at, '\n', size - at);
        size_t len = lf ? (size_t)(lf - (p + at)) : size - at;
        size_t key_end, fields_end;
        int64_t t;
        if (len == 0) {
            /* an empty line holds nothing, on every road */
        } else if (plain(p + at, len, &key_end, &fields_end, &t)) {
            Py_ssize_t k = dict_get(&kd, at, key_end);
            Py_ssize_t f = dict_get(&fd, at + key_end + 1, fields_end - key_end - 1);
            if (k < 0 || f < 0) failed = 1;
            lines[np] = (int32_t)i;
            keys[np] = (int32_t)k;
            fields[np] = (int32_t)f;
            times[np++] = t;
        } else {
            odd[no++] = (int32_t)i;
        }
        at += len + 1;
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *ks = dict_strings(&kd), *fs = ks ? dict_strings(&fd) : NULL;
    if (!fs) {
        Py_XDECREF(ks);
        goto done;
    }
    result = Py_BuildValue("(NNy#y#y#y#y#)", ks, fs, (const char *)lines, (Py_ssize_t)(4 * np),
                           (const char *)keys, (Py_ssize_t)(4 * np), (const char *)fields,
                           (Py_ssize_t)(4 * np), (const char *)times, (Py_ssize_t)(8 * np),
                           (const char *)odd, (Py_ssize_t)(4 * no));
done:
    PyMem_RawFree(lines);
    PyMem_RawFree(keys);
    PyMem_RawFree(fields);
    PyMem_RawFree(odd);
    PyMem_RawFree(times);
    dict_free(&kd);
    dict_free(&fd);
    return result;
}

static PyMethodDef methods[] = {
    {"split", split, METH_O,
     "split(data) -> (series, fields, lines, keys, field_parts, times, odd): the LF-separated "
     "lines of one batch (UTF-8, a final LF ending the last line). Each plain line — "
     "PLAIN_LINE of telemetry.store._split, no field key twice, at most 64 fields — is its "
     "0-based number in `lines`, its series part as an index into `series` in `keys`, its "
     "field part as an index into `fields` in `field_parts` (int32 each) and its time in "
     "`times` (int64), all in machine byte order; `series` and `fields` are the distinct "
     "parts as str, in order of first appearance. `odd` holds the numbers of the other "
     "non-empty lines (int32). Empty lines are in neither."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "lines", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_lines(void) {
    init_classes();
    return PyModule_Create(&module);
}
