/*
 * Compiled kernel of exact thinning (skelkit.core.thinning): one iteration of the
 * direction-by-subfield sweep on the active set of border pixels, and the 3D
 * simple-point test that fills the shared memo table.
 *
 * The numpy implementation in thinning.py (_Thinner.iterate) is the reference; this
 * kernel makes the same decisions in the same order, so results are identical
 * (tests compare both paths). Pixel neighbourhoods, code bit order, subfields and
 * direction order are those of skelkit.core.neighbours.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- 3D simple test
 * Cube masks: bit 9z + 3y + x for (z, y, x) in {0,1,2}^3; the centre is bit 13.
 * A 26-bit neighbour code puts neighbours 0..12 in cube bits 0..12 and 13..25 in 14..26.
 */
#define BIT(z, y, x) (1u << (9 * (z) + 3 * (y) + (x)))

static uint32_t X2, X0, Y2, Y0, Z2, N18, FACES;

static void init_masks(void) {
    X2 = X0 = Y2 = Y0 = Z2 = N18 = FACES = 0;
    for (int z = 0; z < 3; z++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 3; x++) {
                uint32_t b = BIT(z, y, x);
                int d = abs(z - 1) + abs(y - 1) + abs(x - 1);
                if (x == 2) X2 |= b;
                if (x == 0) X0 |= b;
                if (y == 2) Y2 |= b;
                if (y == 0) Y0 |= b;
                if (z == 2) Z2 |= b;
                if (d > 0 && d <= 2) N18 |= b;
                if (d == 1) FACES |= b;
            }
}

static inline uint32_t dilate26(uint32_t m) {
    m = m | ((m & ~X2) << 1) | ((m & ~X0) >> 1);
    m = m | ((m & ~Y2) << 3) | ((m & ~Y0) >> 3);
    return (m | ((m & ~Z2) << 9) | (m >> 9)) & 0x7FFFFFFu;
}

static inline uint32_t dilate6(uint32_t m) {
    return (m | ((m & ~X2) << 1) | ((m & ~X0) >> 1) | ((m & ~Y2) << 3) | ((m & ~Y0) >> 3) |
            ((m & ~Z2) << 9) | (m >> 9)) & 0x7FFFFFFu;
}

/* 1 not simple, 2 simple end point, 3 deletable (simple, not an end point) */
static uint8_t classify3d(uint32_t code) {
    uint32_t cube = (code & 0x1FFFu) | ((code >> 13) << 14);
    if (cube == 0) return 1;
    uint32_t comp = cube & (~cube + 1), prev; /* lowest set bit */
    do {
        prev = comp;
        comp = dilate26(comp) & cube;
    } while (comp != prev);
    if (comp != cube) return 1;
    uint32_t bg = ~cube & N18, faces = bg & FACES;
    if (faces == 0) return 1;
    comp = faces & (~faces + 1);
    do {
        prev = comp;
        comp = dilate6(comp) & bg;
    } while (comp != prev);
    if ((comp & faces) != faces) return 1;
    return __builtin_popcount(code) == 1 ? 2 : 3;
}

/* ------------------------------------------------------------------ buffers */
typedef struct {
    Py_buffer view;
    int held;
} Buf;

static int get_buf(PyObject *obj, Buf *b, int writable, Py_ssize_t itemsize, const char *name) {
    b->held = 0;
    if (obj == Py_None) return 0;
    if (PyObject_GetBuffer(obj, &b->view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) return -1;
    b->held = 1;
    if (b->view.itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: expected items of %zd bytes, got %zd", name, itemsize, b->view.itemsize);
        return -1;
    }
    return 0;
}

static void release(Buf *b) {
    if (b->held) PyBuffer_Release(&b->view);
    b->held = 0;
}

/* ------------------------------------------------------------- one iteration
 * iterate(img, border, interior, subfield, allowed, nb_off, face_off, directions, nd, table, out, flags)
 *   img       uint8 (N,)  padded flat image, 0/1, modified in place
 *   border    intp (n,)   flat indices of the border pixels to visit
 *   interior  uint8 (N,)  foreground pixels not yet on the border, modified in place
 *   subfield  uint8 (N,)  subfield id of each pixel
 *   allowed   uint8 (N,) or None: only these pixels may be deleted
 *   nb_off    intp (8 or 26) neighbour offsets in code-bit order
 *   face_off  intp (4 or 6)
 *   directions intp (4 or 6) in sweep order
 *   nd        2 or 3
 *   table     uint8: 2D deletable LUT (256: 1 = deletable) or the 3D memo table (2**26: 0 unknown, 1/2/3)
 *   out       intp (capacity: every foreground pixel) receives the border to visit next time
 *   flags     uint8 (N,) or None (see below)
 *   codes     uint8 (N,) or None: 2D only, with flags: the neighbour code of every foreground pixel, kept
 *             up to date as pixels go (from prepare), so a test reads one byte instead of eight
 * returns (n_deleted, n_out_border, n_new_codes)
 *
 * Same decisions as thinning.py's _Thinner.iterate: per direction, the candidates are the border pixels
 * whose neighbour in that direction is background at the start of the direction's pass; subfield by
 * subfield, the deletable ones are deleted (pixels of one subfield are not adjacent, so deciding and
 * deleting one at a time is the same as deciding all first).
 *
 * With flags, a border pixel judged "keep" is STABLE: while nothing around it changes it would be judged
 * "keep" again, so it leaves the list (DORMANT: on the border, not in the list) instead of being visited
 * every pass. Deleting a pixel wakes its neighbours; a woken pixel that was a candidate of the current
 * direction at its start (its neighbour in that direction was background then) joins the current pass in
 * its subfield's turn, exactly when the numpy sweep would have looked at it.
 */
#define STABLE 1
#define INLIST 2
#define JUSTGONE 4

typedef struct {
    Py_ssize_t *v;
    Py_ssize_t n, cap;
} Vec;

static int push(Vec *a, Py_ssize_t x) {
    if (a->n == a->cap) {
        Py_ssize_t cap = a->cap ? 2 * a->cap : 256;
        Py_ssize_t *v = realloc(a->v, sizeof(Py_ssize_t) * (size_t)cap);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

static PyObject *iterate(PyObject *self, PyObject *args) {
    PyObject *o_img, *o_border, *o_interior, *o_sub, *o_allowed, *o_nb, *o_face, *o_dir, *o_table, *o_out,
        *o_flags, *o_codes = Py_None;
    int nd;
    if (!PyArg_ParseTuple(args, "OOOOOOOOiOOO|O", &o_img, &o_border, &o_interior, &o_sub, &o_allowed, &o_nb, &o_face,
                          &o_dir, &nd, &o_table, &o_out, &o_flags, &o_codes))
        return NULL;
    Buf b_img, b_border, b_int, b_sub, b_allowed, b_nb, b_face, b_dir, b_table, b_out, b_flags, b_codes;
    Buf *all[] = {&b_img, &b_border, &b_int, &b_sub, &b_allowed, &b_nb, &b_face, &b_dir, &b_table, &b_out, &b_flags,
                  &b_codes};
    for (int i = 0; i < 12; i++) all[i]->held = 0;
    PyObject *result = NULL;
    Vec bucket[8], gone = {0};
    memset(bucket, 0, sizeof(bucket));
    if (get_buf(o_img, &b_img, 1, 1, "img") || get_buf(o_border, &b_border, 0, sizeof(Py_ssize_t), "border") ||
        get_buf(o_interior, &b_int, 1, 1, "interior") || get_buf(o_sub, &b_sub, 0, 1, "subfield") ||
        get_buf(o_allowed, &b_allowed, 0, 1, "allowed") || get_buf(o_nb, &b_nb, 0, sizeof(Py_ssize_t), "nb_off") ||
        get_buf(o_face, &b_face, 0, sizeof(Py_ssize_t), "face_off") ||
        get_buf(o_dir, &b_dir, 0, sizeof(Py_ssize_t), "directions") || get_buf(o_table, &b_table, nd == 3, 1, "table") ||
        get_buf(o_out, &b_out, 1, sizeof(Py_ssize_t), "out") || get_buf(o_flags, &b_flags, 1, 1, "flags") ||
        get_buf(o_codes, &b_codes, 1, 1, "codes"))
        goto done;
    {
        uint8_t *img = b_img.view.buf, *interior = b_int.view.buf, *sub = b_sub.view.buf, *table = b_table.view.buf;
        uint8_t *flags = b_flags.held ? b_flags.view.buf : NULL;
        uint8_t *codes = (b_codes.held && flags && nd == 2) ? b_codes.view.buf : NULL;
        const uint8_t *allowed = b_allowed.held ? b_allowed.view.buf : NULL;
        const Py_ssize_t *nb = b_nb.view.buf, *face = b_face.view.buf, *dirs = b_dir.view.buf;
        Py_ssize_t n_nb = b_nb.view.len / sizeof(Py_ssize_t), n_face = b_face.view.len / sizeof(Py_ssize_t);
        Py_ssize_t n_dir = b_dir.view.len / sizeof(Py_ssize_t);
        Py_ssize_t n_cur = b_border.view.len / sizeof(Py_ssize_t);
        Py_ssize_t cap = b_out.view.len / sizeof(Py_ssize_t);
        Py_ssize_t *cur = b_out.view.buf; /* the list lives in out and is compacted in place */
        int n_sub = 1 << nd;
        if (cap < n_cur) {
            PyErr_SetString(PyExc_ValueError, "out is smaller than border");
            goto done;
        }
        memmove(cur, b_border.view.buf, sizeof(Py_ssize_t) * (size_t)n_cur);
        if (flags)
            for (Py_ssize_t i = 0; i < n_cur; i++) flags[cur[i]] |= INLIST;
        Py_ssize_t total = 0, new_codes = 0;
        for (Py_ssize_t di = 0; di < n_dir; di++) {
            Py_ssize_t d = dirs[di];
            for (int k = 0; k < n_sub; k++) bucket[k].n = 0;
            for (Py_ssize_t i = 0; i < n_cur; i++) {
                Py_ssize_t p = cur[i];
                if (!img[p + d] && (!allowed || allowed[p]))
                    if (push(&bucket[sub[p]], p)) goto nomem;
            }
            gone.n = 0;
            Py_ssize_t n_list = n_cur; /* pixels woken during the pass are appended after these */
            for (int k = 0; k < n_sub; k++) {
                for (Py_ssize_t i = 0; i < bucket[k].n; i++) { /* the bucket may grow while we go */
                    Py_ssize_t p = bucket[k].v[i];
                    if (flags && (flags[p] & STABLE)) continue;
                    uint32_t code = 0;
                    if (codes)
                        code = codes[p];
                    else
                        for (Py_ssize_t j = 0; j < n_nb; j++) code |= (uint32_t)(img[p + nb[j]] != 0) << j;
                    int del;
                    if (nd == 2) {
                        del = table[code];
                    } else {
                        uint8_t kind = table[code];
                        if (!kind) {
                            kind = classify3d(code);
                            table[code] = kind;
                            new_codes++;
                        }
                        del = kind == 3;
                    }
                    if (!del) {
                        if (flags) flags[p] |= STABLE;
                        continue;
                    }
                    img[p] = 0;
                    if (push(&gone, p)) goto nomem;
                    if (!flags) continue;
                    flags[p] |= JUSTGONE;
                    if (codes) /* p is r's neighbour 7 - j; a constant bound lets the compiler unroll */
                        for (int j = 0; j < 8; j++) codes[p + nb[j]] &= (uint8_t)~(1u << (7 - j));
                    for (Py_ssize_t j = 0; j < n_nb; j++) {
                        Py_ssize_t r = p + nb[j];
                        uint8_t fr = flags[r] & (uint8_t)~STABLE;
                        flags[r] = fr;
                        if ((fr & INLIST) || !img[r] || interior[r]) continue;
                        /* a dormant border pixel wakes up */
                        flags[r] |= INLIST;
                        if (n_cur >= cap) goto overflow;
                        cur[n_cur++] = r;
                        if (sub[r] > k && (!allowed || allowed[r]) && !img[r + d] && !(flags[r + d] & JUSTGONE))
                            if (push(&bucket[sub[r]], r)) goto nomem;
                    }
                }
            }
            (void)n_list;
            if (!gone.n) continue;
            total += gone.n;
            /* the list: drop the deleted (and, with flags, the stable), add interior face neighbours */
            Py_ssize_t w = 0;
            for (Py_ssize_t i = 0; i < n_cur; i++) {
                Py_ssize_t p = cur[i];
                if (img[p] && !(flags && (flags[p] & STABLE)))
                    cur[w++] = p;
                else if (flags)
                    flags[p] &= (uint8_t)~INLIST;
            }
            for (Py_ssize_t i = 0; i < gone.n; i++) {
                Py_ssize_t p = gone.v[i];
                if (flags) flags[p] &= (uint8_t)~(JUSTGONE | INLIST | STABLE);
                for (Py_ssize_t f = 0; f < n_face; f++) {
                    Py_ssize_t q = p + face[f];
                    if (interior[q]) {
                        interior[q] = 0;
                        if (w >= cap) goto overflow;
                        cur[w++] = q;
                        if (flags) flags[q] |= INLIST;
                    }
                }
            }
            n_cur = w;
        }
        if (flags) { /* what leaves the list now is dormant */
            Py_ssize_t w = 0;
            for (Py_ssize_t i = 0; i < n_cur; i++) {
                Py_ssize_t p = cur[i];
                if (img[p] && !(flags[p] & STABLE))
                    cur[w++] = p;
                else
                    flags[p] &= (uint8_t)~INLIST;
            }
            n_cur = w;
        }
        result = Py_BuildValue("nnn", total, n_cur, new_codes);
        goto done;
    overflow:
        PyErr_SetString(PyExc_RuntimeError, "border list capacity exceeded");
        goto done;
    nomem:
        PyErr_NoMemory();
    }
done:
    for (int k = 0; k < 8; k++) free(bucket[k].v);
    free(gone.v);
    for (int i = 0; i < 12; i++) release(all[i]);
    return result;
}

/* prepare(img, face_off, pshape, origin_parity, interior, subfield, border[, nb_off, codes]) -> n_border
 *   img      uint8 (N,) padded flat image (0/1); pshape intp (nd,) its shape
 *   origin_parity intp (nd,): parity of the global coordinate of padded index 0 on each axis
 *   interior, subfield: uint8 (N,) outputs (zeroed by the caller); border: intp (capacity) output
 *   nb_off intp (8), codes uint8 (N,): 2D only, optional: also the neighbour code of every foreground pixel
 * One pass: border pixels (a background face neighbour), interior flags and subfield ids of the foreground.
 * Runs of eight background bytes are skipped a word at a time (most of a sparse image). */
static PyObject *prepare(PyObject *self, PyObject *args) {
    PyObject *o_img, *o_face, *o_shape, *o_par, *o_int, *o_sub, *o_border, *o_nb = Py_None, *o_codes = Py_None;
    if (!PyArg_ParseTuple(args, "OOOOOOO|OO", &o_img, &o_face, &o_shape, &o_par, &o_int, &o_sub, &o_border, &o_nb,
                          &o_codes))
        return NULL;
    Buf b[9];
    for (int i = 0; i < 9; i++) b[i].held = 0;
    PyObject *result = NULL;
    if (get_buf(o_img, &b[0], 0, 1, "img") || get_buf(o_face, &b[1], 0, sizeof(Py_ssize_t), "face_off") ||
        get_buf(o_shape, &b[2], 0, sizeof(Py_ssize_t), "pshape") ||
        get_buf(o_par, &b[3], 0, sizeof(Py_ssize_t), "origin_parity") || get_buf(o_int, &b[4], 1, 1, "interior") ||
        get_buf(o_sub, &b[5], 1, 1, "subfield") || get_buf(o_border, &b[6], 1, sizeof(Py_ssize_t), "border") ||
        get_buf(o_nb, &b[7], 0, sizeof(Py_ssize_t), "nb_off") || get_buf(o_codes, &b[8], 1, 1, "codes"))
        goto done;
    {
        const uint8_t *img = b[0].view.buf;
        const Py_ssize_t *face = b[1].view.buf, *shape = b[2].view.buf, *par = b[3].view.buf;
        uint8_t *interior = b[4].view.buf, *sub = b[5].view.buf;
        Py_ssize_t *border = b[6].view.buf, cap = b[6].view.len / sizeof(Py_ssize_t);
        int nd = (int)(b[2].view.len / sizeof(Py_ssize_t)), n_face = (int)(b[1].view.len / sizeof(Py_ssize_t));
        const Py_ssize_t *nb = b[7].held ? b[7].view.buf : NULL;
        uint8_t *codes = (b[8].held && nb && nd == 2 && b[7].view.len == 8 * (Py_ssize_t)sizeof(Py_ssize_t))
                             ? b[8].view.buf : NULL;
        Py_ssize_t n = 0, p = 0;
        Py_ssize_t nz = nd == 3 ? shape[0] : 1, ny = shape[nd - 2], nx = shape[nd - 1];
        for (Py_ssize_t z = 0; z < nz; z++)
            for (Py_ssize_t y = 0; y < ny; y++) {
                uint8_t zy = nd == 3 ? (uint8_t)((((z + par[0]) & 1) << 2) | (((y + par[1]) & 1) << 1))
                                     : (uint8_t)(((y + par[0]) & 1) << 1);
                Py_ssize_t px = par[nd - 1];
                for (Py_ssize_t x = 0; x < nx; x++, p++) {
                    if (x + 8 <= nx) {
                        uint64_t word;
                        memcpy(&word, img + p, 8);
                        if (!word) {
                            x += 7;
                            p += 7;
                            continue;
                        }
                    }
                    if (!img[p]) continue;
                    sub[p] = zy | (uint8_t)((x + px) & 1);
                    if (codes) {
                        uint8_t c = 0;
                        for (int j = 0; j < 8; j++) c |= (uint8_t)((img[p + nb[j]] != 0) << j);
                        codes[p] = c;
                    }
                    int on_border = 0;
                    for (int f = 0; f < n_face; f++)
                        if (!img[p + face[f]]) {
                            on_border = 1;
                            break;
                        }
                    if (on_border) {
                        if (n >= cap) {
                            PyErr_SetString(PyExc_ValueError, "border capacity exceeded");
                            goto done;
                        }
                        border[n++] = p;
                    } else {
                        interior[p] = 1;
                    }
                }
            }
        result = PyLong_FromSsize_t(n);
    }
done:
    for (int i = 0; i < 9; i++) release(&b[i]);
    return result;
}

/* classify(codes uint32 (M,), table uint8 (2**26,), out uint8 (M,)) -> number of codes computed */
static PyObject *classify(PyObject *self, PyObject *args) {
    PyObject *o_codes, *o_table, *o_out;
    if (!PyArg_ParseTuple(args, "OOO", &o_codes, &o_table, &o_out)) return NULL;
    Buf b_codes, b_table, b_out;
    b_codes.held = b_table.held = b_out.held = 0;
    PyObject *result = NULL;
    if (get_buf(o_codes, &b_codes, 0, 4, "codes") || get_buf(o_table, &b_table, 1, 1, "table") ||
        get_buf(o_out, &b_out, 1, 1, "out"))
        goto done;
    {
        const uint32_t *codes = b_codes.view.buf;
        uint8_t *table = b_table.view.buf, *out = b_out.view.buf;
        Py_ssize_t n = b_codes.view.len / 4, computed = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint32_t c = codes[i] & 0x3FFFFFFu;
            uint8_t kind = table[c];
            if (!kind) {
                kind = classify3d(c);
                table[c] = kind;
                computed++;
            }
            out[i] = kind;
        }
        result = PyLong_FromSsize_t(computed);
    }
done:
    release(&b_codes);
    release(&b_table);
    release(&b_out);
    return result;
}

static PyMethodDef methods[] = {
    {"iterate", iterate, METH_VARARGS, "One thinning iteration on the active border set (see thinning.py)."},
    {"classify", classify, METH_VARARGS, "Classify 26-bit codes with the memo table (see simple.py)."},
    {"prepare", prepare, METH_VARARGS, "Border, interior flags and subfields of a padded image (see thinning.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_thinc", "Compiled kernel of exact thinning.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__thinc(void) {
    init_masks();
    return PyModule_Create(&module);
}
