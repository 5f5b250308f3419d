/* RICE_1 decoding of 32-bit pixels, into a caller's buffer, as far as the caller asks.
 *
 * The stream (FITS tiled-image convention, RICE_1 with BYTEPIX = 4): the first
 * pixel as 4 big-endian bytes, then blocks of `blocksize` pixels.  Each block
 * starts with a 5-bit code: 0 means every difference in the block is zero;
 * 26 means each difference follows as 32 raw bits; otherwise fs = code - 1 and
 * each difference is a run of zero bits, a one bit, then fs low bits: the
 * mapped difference is (zeros << fs) | low.  A mapped difference m stands for
 * m / 2 when m is even and for -(m + 1) / 2 (that is, ~(m >> 1)) when it is
 * odd; each pixel is the previous one plus its difference, modulo 2^32.
 *
 * Pixels are produced in stream order (x fastest), so decoding can stop after
 * the first `n` pixels: a box in the top rows of a tile needs only those.
 * Reads never go past the end of the input; a stream that ends early, or a
 * code above 26, is reported as corrupt.  The GIL is released while decoding.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define CODE_BITS 5
#define RAW_CODE 26 /* fs = 25: differences stored as 32 raw bits */

enum { DECODED = 0, ENDS_EARLY = 1, BAD_CODE = 2 };

typedef struct {
    const uint8_t *next, *end;
    uint64_t bits;  /* the next `count` unread bits at the top (most significant first); below them, */
    int count;      /* possibly some of the bits that follow (a refill reads whole 8-byte words) */
} BitReader;

static inline uint64_t load_big_endian64(const uint8_t *p) { /* one load and a byte swap, compiled */
    return ((uint64_t)p[0] << 56) | ((uint64_t)p[1] << 48) | ((uint64_t)p[2] << 40) | ((uint64_t)p[3] << 32) |
           ((uint64_t)p[4] << 24) | ((uint64_t)p[5] << 16) | ((uint64_t)p[6] << 8) | (uint64_t)p[7];
}

/* Top up to at least 56 bits when the input allows (eight bytes at a time away from its end); `count`
 * stays at most 63, so no shift below is by 64. */
static inline void refill(BitReader *r) {
    if (r->end - r->next >= 8) {
        r->bits |= load_big_endian64(r->next) >> r->count;
        r->next += (63 - r->count) >> 3;
        r->count |= 56;
    } else {
        while (r->count < 56 && r->next < r->end) {
            r->bits |= (uint64_t)*r->next++ << (56 - r->count);
            r->count += 8;
        }
    }
}

static inline void skip(BitReader *r, int k) { /* 0 <= k <= count */
    r->bits = k >= 64 ? 0 : r->bits << k;
    r->count -= k;
}

/* The next `k` bits (k <= 32) as a number, or -1 when the input is exhausted. */
static inline int64_t take(BitReader *r, int k) {
    if (k == 0) return 0;
    if (r->count < k) {
        refill(r);
        if (r->count < k) return -1;
    }
    int64_t value = (int64_t)(r->bits >> (64 - k));
    skip(r, k);
    return value;
}

/* The number of zero bits before the next one bit (the one is consumed), or -1 at the end of input. */
static inline int64_t zeros_before_one(BitReader *r) {
    int64_t zeros = 0;
    for (;;) {
        if (r->count == 0) {
            refill(r);
            if (r->count == 0) return -1;
        }
        uint64_t unread = r->bits & (~0ULL << (64 - r->count));
        if (unread == 0) { /* every unread bit is zero */
            zeros += r->count;
            skip(r, r->count);
            continue;
        }
        int leading = __builtin_clzll(unread);
        skip(r, leading + 1);
        return zeros + leading;
    }
}

static inline uint32_t unmap(uint32_t mapped) { /* m even: m / 2; m odd: ~(m >> 1); without a branch */
    return (mapped >> 1) ^ (0u - (mapped & 1u));
}

/* Decode the first `n` pixels of `src` into `out`; *used is the number of input bytes read. */
static int decode32(const uint8_t *src, Py_ssize_t length, uint32_t *out, Py_ssize_t n, int blocksize,
                    Py_ssize_t *used) {
    *used = 0;
    if (n == 0) return DECODED;
    if (length < 4) return ENDS_EARLY;
    uint32_t last = ((uint32_t)src[0] << 24) | ((uint32_t)src[1] << 16) | ((uint32_t)src[2] << 8) | src[3];
    BitReader r = {src + 4, src + length, 0, 0};
    Py_ssize_t i = 0;
    while (i < n) {
        int64_t code = take(&r, CODE_BITS);
        if (code < 0) return ENDS_EARLY;
        if (code > RAW_CODE) return BAD_CODE;
        Py_ssize_t stop = i + blocksize < n ? i + blocksize : n;
        if (code == 0) {
            for (; i < stop; i++) out[i] = last;
        } else if (code == RAW_CODE) {
            for (; i < stop; i++) {
                int64_t raw = take(&r, 32);
                if (raw < 0) return ENDS_EARLY;
                last += unmap((uint32_t)raw);
                out[i] = last;
            }
        } else {
            int fs = (int)code - 1;
            for (; i < stop; i++) {
                uint32_t mapped;
                if (r.count < 56) refill(&r);
                int leading = __builtin_clzll(r.bits | 1); /* 63 when no one bit is there: the slow path */
                int length = leading + 1 + fs;
                if (length <= r.count) { /* the usual case: the whole code is among the unread bits (< 64) */
                    uint64_t rest = (r.bits << leading) << 1;
                    mapped = ((uint32_t)leading << fs) | (uint32_t)((rest >> 1) >> (63 - fs) >> 0);
                    if (fs == 0) mapped = (uint32_t)leading;
                    r.bits <<= length; /* length <= count < 64 */
                    r.count -= length;
                } else { /* a long run of zeros, or the end of the input */
                    int64_t high = zeros_before_one(&r);
                    if (high < 0) return ENDS_EARLY;
                    if (high > (int64_t)(0xFFFFFFFFu >> fs)) return BAD_CODE;
                    int64_t low = take(&r, fs);
                    if (low < 0) return ENDS_EARLY;
                    mapped = (uint32_t)((high << fs) | low);
                }
                last += unmap(mapped);
                out[i] = last;
            }
        }
    }
    *used = (Py_ssize_t)(r.next - src) - r.count / 8;
    return DECODED;
}

static PyObject *decode_into(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    Py_ssize_t n;
    int blocksize;
    if (!PyArg_ParseTuple(args, "y*w*ni", &src, &dst, &n, &blocksize)) return NULL;
    PyObject *result = NULL;
    if (n < 0 || blocksize <= 0) {
        PyErr_SetString(PyExc_ValueError, "n must be >= 0 and blocksize > 0");
    } else if (n > dst.len / 4) {
        PyErr_SetString(PyExc_ValueError, "the output buffer is smaller than n 32-bit pixels");
    } else {
        Py_ssize_t used = 0;
        int status;
        uint32_t *out = (uint32_t *)dst.buf;
        int aligned = ((uintptr_t)dst.buf % sizeof(uint32_t)) == 0;
        uint32_t *scratch = aligned ? NULL : (uint32_t *)PyMem_RawMalloc((size_t)(n ? n : 1) * 4);
        if (!aligned && scratch == NULL) {
            PyErr_NoMemory();
        } else {
            Py_BEGIN_ALLOW_THREADS
            status = decode32((const uint8_t *)src.buf, src.len, aligned ? out : scratch, n, blocksize, &used);
            if (!aligned) memcpy(dst.buf, scratch, (size_t)n * 4);
            Py_END_ALLOW_THREADS
            PyMem_RawFree(scratch);
            if (status == ENDS_EARLY) {
                PyErr_SetString(PyExc_ValueError, "the RICE_1 stream ends before the pixels asked for");
            } else if (status == BAD_CODE) {
                PyErr_SetString(PyExc_ValueError, "the RICE_1 stream holds an invalid code");
            } else {
                result = PyLong_FromSsize_t(used);
            }
        }
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return result;
}

static PyMethodDef methods[] = {
    {"decode_into", decode_into, METH_VARARGS,
     "decode_into(src, dst, n, blocksize) -> bytes read\n\n"
     "Decode the first n 32-bit pixels of the RICE_1 stream src (bytes-like) into dst (a writable\n"
     "buffer of at least 4 n bytes, native byte order). Raises ValueError for a corrupt stream."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rice", "RICE_1 decoding into caller buffers.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__rice(void) { return PyModule_Create(&module); }
