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

/* ------------------------------------------------------------------ lists */
typedef struct {
    Py_ssize_t *v;
    Py_ssize_t n, cap;
} Vec;

__attribute__((noinline)) static int grow(Vec *a) {
    Py_ssize_t cap = a->cap ? 2 * a->cap : 256;
    Py_ssize_t *v = realloc(a->v, sizeof(Py_ssize_t) * (size_t)cap);
    if (!v) return -1;
    a->v = v;
    a->cap = cap;
    return 0;
}

__attribute__((always_inline)) static inline int push(Vec *a, Py_ssize_t x) {
    if (__builtin_expect(a->n == a->cap, 0) && grow(a)) return -1;
    a->v[a->n++] = x;
    return 0;
}

static inline int is_deletable(uint32_t code, int nd, uint8_t *table, Py_ssize_t *new_codes) {
    if (nd == 2) return table[code];
    uint8_t kind = table[code];
    if (!kind) {
        kind = classify3d(code);
        table[code] = kind;
        (*new_codes)++;
    }
    return kind == 3;
}

/* ------------------------------------------------------ one iteration, plain
 * iterate(img, border, interior, subfield, allowed, nb_off, face_off, directions, nd, table, out)
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
 * returns (n_deleted, n_out_border, n_new_codes)
 *
 * Same decisions as thinning.py's _Thinner.iterate: per direction, the candidates are the border pixels
 * whose neighbour in that direction is background at the start of the direction's pass; subfield by
 * subfield, the deletable ones are deleted (pixels of one subfield are not adjacent, so deciding and
 * deleting one at a time is the same as deciding all first). Used between the numpy passes of
 * equivariant thinning, which share these arrays; plain thinning runs `sweep` on packed states.
 */
static PyObject *iterate(PyObject *self, PyObject *args) {
    PyObject *o_img, *o_border, *o_interior, *o_sub, *o_allowed, *o_nb, *o_face, *o_dir, *o_table, *o_out;
    int nd;
    if (!PyArg_ParseTuple(args, "OOOOOOOOiOO", &o_img, &o_border, &o_interior, &o_sub, &o_allowed, &o_nb, &o_face,
                          &o_dir, &nd, &o_table, &o_out))
        return NULL;
    Buf b_img, b_border, b_int, b_sub, b_allowed, b_nb, b_face, b_dir, b_table, b_out;
    Buf *all[] = {&b_img, &b_border, &b_int, &b_sub, &b_allowed, &b_nb, &b_face, &b_dir, &b_table, &b_out};
    for (int i = 0; i < 10; i++) all[i]->held = 0;
    PyObject *result = NULL;
    Vec bucket[8], gone = {0};
    memset(bucket, 0, sizeof(bucket));
    if (get_buf(o_img, &b_img, 1, 1, "img") || get_buf(o_border, &b_border, 0, sizeof(Py_ssize_t), "border") ||
        get_buf(o_interior, &b_int, 1, 1, "interior") || get_buf(o_sub, &b_sub, 0, 1, "subfield") ||
        get_buf(o_allowed, &b_allowed, 0, 1, "allowed") || get_buf(o_nb, &b_nb, 0, sizeof(Py_ssize_t), "nb_off") ||
        get_buf(o_face, &b_face, 0, sizeof(Py_ssize_t), "face_off") ||
        get_buf(o_dir, &b_dir, 0, sizeof(Py_ssize_t), "directions") || get_buf(o_table, &b_table, nd == 3, 1, "table") ||
        get_buf(o_out, &b_out, 1, sizeof(Py_ssize_t), "out"))
        goto done;
    {
        uint8_t *img = b_img.view.buf, *interior = b_int.view.buf, *sub = b_sub.view.buf, *table = b_table.view.buf;
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
            for (int k = 0; k < n_sub; k++)
                for (Py_ssize_t i = 0; i < bucket[k].n; i++) {
                    Py_ssize_t p = bucket[k].v[i];
                    uint32_t code = 0;
                    for (Py_ssize_t j = 0; j < n_nb; j++) code |= (uint32_t)(img[p + nb[j]] != 0) << j;
                    if (!is_deletable(code, nd, table, &new_codes)) continue;
                    img[p] = 0;
                    if (push(&gone, p)) goto nomem;
                }
            if (!gone.n) continue;
            total += gone.n;
            /* the list: drop the deleted, add their interior face neighbours */
            Py_ssize_t w = 0;
            for (Py_ssize_t i = 0; i < n_cur; i++)
                if (img[cur[i]]) cur[w++] = cur[i];
            for (Py_ssize_t i = 0; i < gone.n; i++)
                for (Py_ssize_t f = 0; f < n_face; f++) {
                    Py_ssize_t q = gone.v[i] + face[f];
                    if (interior[q]) {
                        interior[q] = 0;
                        if (w >= cap) goto overflow;
                        cur[w++] = q;
                    }
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
    for (int i = 0; i < 10; i++) release(all[i]);
    return result;
}

static PyObject *border_count(Py_ssize_t n) {
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "border capacity exceeded");
        return NULL;
    }
    return PyLong_FromSsize_t(n);
}

/* --------------------------------------------------------- packed sweep
 * Plain (non-equivariant) thinning keeps its whole state in one byte per padded pixel, so that a
 * deletion reads and writes one byte per neighbour instead of four arrays:
 *   FG        foreground
 *   STABLE    on the border, judged "keep", nothing around it deleted since: it would be judged "keep"
 *             again, so it leaves the list (dormant) until a neighbour goes
 *   INLIST    in the list of border pixels to visit
 *   JUSTGONE  deleted in the current direction's pass
 *   INTERIOR  foreground, not yet on the border
 *   bits 5-7  subfield id
 * 3D runs `sweep` (one list of border pixels); 2D runs `sweep2d` (one list per direction), which uses
 * neither INLIST nor INTERIOR and takes the neighbour code from three 4-byte loads of the state (code2d;
 * keeping a code per pixel up to date instead was measured slower).
 */
#define FG 1
#define STABLE 2
#define INLIST 4
#define JUSTGONE 8
#define INTERIOR 16
#define SUBSHIFT 5

/* The 8-neighbour code of p from three 4-byte loads of the state (foreground = bit 0 of each byte), for
 * offsets in row-major order (-W-1, -W, -W+1, -1, 1, W-1, W, W+1); the loads stay inside the padded image. */
static inline uint32_t code2d(const uint8_t *st, Py_ssize_t p, Py_ssize_t W, int *stable) {
    uint32_t a, b, c;
    memcpy(&a, st + p - W - 1, 4);
    memcpy(&b, st + p - 1, 4);
    memcpy(&c, st + p + W - 2, 4);
    c >>= 8;
    *stable = ((a | b | c) & 0x020202u) != 0; /* STABLE == 2: some pixel of the 3x3 block is stable */
    /* bytes 0, 1, 2 -> bits 0, 1, 2: the multiply places each byte's bit 0 at bits 16-18, without carries */
    uint32_t top = (((a & 0x010101u) * 0x10204u) >> 16) & 7u, bot = (((c & 0x010101u) * 0x10204u) >> 16) & 7u;
    return top | (b & 1u) << 3 | ((b >> 16) & 1u) << 4 | bot << 5;
}

/* One pass over a packed state (bit 0 = foreground): each foreground pixel gets its flags (INLIST on the
 * border, else INTERIOR) and subfield id, and the border pixels are listed. Eight pixels at a time: a pixel
 * is on the border unless all its face neighbours are foreground (bit 0 of their bytes, which this pass
 * keeps). Rows of the frame hold no foreground and are skipped; so the neighbour loads stay inside. */
static Py_ssize_t scan_packed(uint8_t *st, const Py_ssize_t *shape, int nd, const Py_ssize_t *par, Py_ssize_t *border,
                              Py_ssize_t cap) {
    const uint64_t ONES = 0x0101010101010101ull;
    Py_ssize_t n = 0, nz = nd == 3 ? shape[0] : 1, ny = shape[nd - 2], nx = shape[nd - 1], plane = ny * nx;
    for (Py_ssize_t z = nd == 3; z < (nd == 3 ? nz - 1 : 1); z++)
        for (Py_ssize_t y = 1; y < ny - 1; y++) {
            uint8_t zy = nd == 3 ? (uint8_t)((((z + par[0]) & 1) << 2) | (((y + par[1]) & 1) << 1))
                                 : (uint8_t)(((y + par[0]) & 1) << 1);
            /* subfield ids of eight pixels starting at an even / odd global x */
            uint64_t sub_even = 0, sub_odd = 0;
            for (int i = 0; i < 8; i++) {
                sub_even |= (uint64_t)((zy | (i & 1)) << SUBSHIFT) << (8 * i);
                sub_odd |= (uint64_t)((zy | ((i + 1) & 1)) << SUBSHIFT) << (8 * i);
            }
            Py_ssize_t row = (z * ny + y) * nx, x = 1;
            for (; x + 8 <= nx - 1; x += 8) {
                uint8_t *q = st + row + x;
                uint64_t c, l, r, u, d, f = ONES, b = ONES;
                memcpy(&c, q, 8);
                c &= ONES;
                if (!c) continue;
                memcpy(&l, q - 1, 8);
                memcpy(&r, q + 1, 8);
                memcpy(&u, q - nx, 8);
                memcpy(&d, q + nx, 8);
                if (nd == 3) {
                    memcpy(&f, q - plane, 8);
                    memcpy(&b, q + plane, 8);
                }
                uint64_t inner = c & l & r & u & d & f & b & ONES, edge = c & ~inner;
                uint64_t sub = ((x + par[nd - 1]) & 1) ? sub_odd : sub_even;
                uint64_t word = c | edge * INLIST | inner * INTERIOR | (sub & (c * 0xFF));
                memcpy(q, &word, 8);
                if (n + 8 > cap && n + __builtin_popcountll(edge) > cap) return -1;
                for (; edge; edge &= edge - 1) border[n++] = row + x + (__builtin_ctzll(edge) >> 3);
            }
            for (; x < nx - 1; x++) {
                Py_ssize_t p = row + x;
                if (!st[p]) continue;
                int on_border = !(st[p - 1] & st[p + 1] & st[p - nx] & st[p + nx] & 1) ||
                                (nd == 3 && !(st[p - plane] & st[p + plane] & 1));
                if (on_border) {
                    if (n >= cap) return -1;
                    border[n++] = p;
                }
                st[p] = (uint8_t)(FG | (zy | ((x + par[nd - 1]) & 1)) << SUBSHIFT | (on_border ? INLIST : INTERIOR));
            }
        }
    return n;
}

/* prepare(img, pshape, origin_parity, interior, subfield, border) -> n_border
 *   img      uint8 (N,) padded flat image (0/1); pshape intp (nd,) its shape
 *   origin_parity intp (nd,): parity of the global coordinate of padded index 0 on each axis
 *   interior, subfield: uint8 (N,) outputs (zeroed by the caller); border: intp (capacity) output
 * The arrays of equivariant thinning's numpy passes: scan_packed runs on a copy of the image in `subfield`,
 * whose bytes are then split into the interior flag and the subfield id. */
static PyObject *prepare(PyObject *self, PyObject *args) {
    PyObject *o_img, *o_shape, *o_par, *o_int, *o_sub, *o_border;
    if (!PyArg_ParseTuple(args, "OOOOOO", &o_img, &o_shape, &o_par, &o_int, &o_sub, &o_border)) return NULL;
    Buf b[6];
    for (int i = 0; i < 6; i++) b[i].held = 0;
    PyObject *result = NULL;
    if (get_buf(o_img, &b[0], 0, 1, "img") || get_buf(o_shape, &b[1], 0, sizeof(Py_ssize_t), "pshape") ||
        get_buf(o_par, &b[2], 0, sizeof(Py_ssize_t), "origin_parity") || get_buf(o_int, &b[3], 1, 1, "interior") ||
        get_buf(o_sub, &b[4], 1, 1, "subfield") || get_buf(o_border, &b[5], 1, sizeof(Py_ssize_t), "border"))
        goto done;
    {
        const Py_ssize_t *shape = b[1].view.buf;
        int nd = (int)(b[1].view.len / sizeof(Py_ssize_t));
        Py_ssize_t n = b[0].view.len, size = 1;
        uint8_t *interior = b[3].view.buf, *sub = b[4].view.buf;
        for (int a = 0; a < nd; a++) size *= shape[a];
        if (size != n || b[3].view.len != n || b[4].view.len != n || b[2].view.len != b[1].view.len) {
            PyErr_SetString(PyExc_ValueError, "prepare: arrays of different sizes");
            goto done;
        }
        memcpy(sub, b[0].view.buf, (size_t)n);
        result = border_count(scan_packed(sub, shape, nd, b[2].view.buf, b[5].view.buf,
                                          b[5].view.len / (Py_ssize_t)sizeof(Py_ssize_t)));
        for (Py_ssize_t p = 0; result && p < n; p++) {
            interior[p] = (sub[p] & INTERIOR) != 0;
            sub[p] >>= SUBSHIFT;
        }
    }
done:
    for (int i = 0; i < 6; i++) release(&b[i]);
    return result;
}

/* pack(mask, pshape, state) -> n_foreground, or -1 when a float32 mask holds NaN
 *   mask     the unpadded image, C order, shape pshape - 2 on each axis: uint8/bool (nonzero = foreground) or
 *            float32 (> 0.5 = foreground, as tensors are read)
 *   state    uint8 (N,) padded output, its frame zero (only the inside is written: a state can be reused)
 * The padded copy: rows of the mask land inside the zero frame; bit 0 = foreground. */
static PyObject *pack(PyObject *self, PyObject *args) {
    PyObject *o_mask, *o_shape, *o_state;
    if (!PyArg_ParseTuple(args, "OOO", &o_mask, &o_shape, &o_state)) return NULL;
    Buf b[3];
    for (int i = 0; i < 3; i++) b[i].held = 0;
    PyObject *result = NULL;
    if (PyObject_GetBuffer(o_mask, &b[0].view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) goto done;
    b[0].held = 1;
    if (get_buf(o_shape, &b[1], 0, sizeof(Py_ssize_t), "pshape") || get_buf(o_state, &b[2], 1, 1, "state")) goto done;
    {
        Py_ssize_t item = b[0].view.itemsize;
        const char *fmt = b[0].view.format ? b[0].view.format : "B";
        if (!(item == 1 || (item == 4 && strcmp(fmt, "f") == 0))) {
            PyErr_Format(PyExc_TypeError, "pack: mask must be bool, uint8 or float32, got format %s", fmt);
            goto done;
        }
        const Py_ssize_t *shape = b[1].view.buf;
        uint8_t *st = b[2].view.buf;
        int nd = (int)(b[1].view.len / sizeof(Py_ssize_t));
        Py_ssize_t nz = nd == 3 ? shape[0] : 1, ny = shape[nd - 2], nx = shape[nd - 1], inner = 1, n = 0;
        for (int a = 0; a < nd; a++) inner *= shape[a] - 2;
        if (b[0].view.len != inner * item || b[2].view.len != nz * ny * nx) {
            PyErr_SetString(PyExc_ValueError, "mask or state does not match pshape");
            goto done;
        }
        const uint8_t *m8 = b[0].view.buf;
        const float *mf = b[0].view.buf;
        for (Py_ssize_t z = nd == 3; z < (nd == 3 ? nz - 1 : 1); z++)
            for (Py_ssize_t y = 1; y < ny - 1; y++) {
                uint8_t *row = st + (z * ny + y) * nx + 1;
                if (item == 1) { /* separate copy and count loops: each vectorises */
                    for (Py_ssize_t x = 0; x < nx - 2; x++) row[x] = m8[x] != 0;
                    m8 += nx - 2;
                } else {
                    int nan = 0;
                    for (Py_ssize_t x = 0; x < nx - 2; x++) {
                        row[x] = mf[x] > 0.5f;
                        nan |= mf[x] != mf[x];
                    }
                    if (nan) {
                        n = -1;
                        goto nan_found;
                    }
                    mf += nx - 2;
                }
                uint32_t c = 0;
                for (Py_ssize_t x = 0; x < nx - 2; x++) c += row[x];
                n += c;
            }
    nan_found:
        result = PyLong_FromSsize_t(n);
    }
done:
    for (int i = 0; i < 3; i++) release(&b[i]);
    return result;
}

/* scan(state, pshape, origin_parity, border) -> n_border
 *   state    from pack; gets each foreground pixel's flags and subfield id (see above)
 *   border   intp (capacity) output: the border pixels, in index order (scan_packed) */
static PyObject *scan(PyObject *self, PyObject *args) {
    PyObject *o_state, *o_shape, *o_par, *o_border;
    if (!PyArg_ParseTuple(args, "OOOO", &o_state, &o_shape, &o_par, &o_border)) return NULL;
    Buf b[4];
    for (int i = 0; i < 4; i++) b[i].held = 0;
    PyObject *result = NULL;
    if (get_buf(o_state, &b[0], 1, 1, "state") || get_buf(o_shape, &b[1], 0, sizeof(Py_ssize_t), "pshape") ||
        get_buf(o_par, &b[2], 0, sizeof(Py_ssize_t), "origin_parity") ||
        get_buf(o_border, &b[3], 1, sizeof(Py_ssize_t), "border"))
        goto done;
    {
        const Py_ssize_t *shape = b[1].view.buf;
        int nd = (int)(b[1].view.len / sizeof(Py_ssize_t));
        Py_ssize_t size = 1;
        for (int a = 0; a < nd; a++) size *= shape[a];
        if (b[0].view.len != size || b[2].view.len != b[1].view.len) {
            PyErr_SetString(PyExc_ValueError, "state or origin_parity does not match pshape");
            goto done;
        }
        result = border_count(scan_packed(b[0].view.buf, shape, nd, b[2].view.buf, b[3].view.buf,
                                          b[3].view.len / (Py_ssize_t)sizeof(Py_ssize_t)));
    }
done:
    for (int i = 0; i < 4; i++) release(&b[i]);
    return result;
}

/* unpack(state, pshape, out, zeroed): out = the foreground (bit 0) of the state without its frame; out is
 * float32 (0/1, what a tensor gets) or one byte per pixel (bool), C order, shape pshape - 2. With `zeroed`
 * (out is all zero already, e.g. fresh from calloc) only the foreground is written: a skeleton is sparse,
 * and pages it does not reach are never touched. */
static PyObject *unpack(PyObject *self, PyObject *args) {
    PyObject *o_state, *o_shape, *o_out;
    int zeroed;
    if (!PyArg_ParseTuple(args, "OOOp", &o_state, &o_shape, &o_out, &zeroed)) return NULL;
    Buf b[3];
    for (int i = 0; i < 3; i++) b[i].held = 0;
    PyObject *result = NULL;
    if (get_buf(o_state, &b[0], 0, 1, "state") || get_buf(o_shape, &b[1], 0, sizeof(Py_ssize_t), "pshape")) goto done;
    if (PyObject_GetBuffer(o_out, &b[2].view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT) < 0) goto done;
    b[2].held = 1;
    {
        Py_ssize_t item = b[2].view.itemsize;
        const char *fmt = b[2].view.format ? b[2].view.format : "B";
        const Py_ssize_t *shape = b[1].view.buf;
        int nd = (int)(b[1].view.len / sizeof(Py_ssize_t));
        Py_ssize_t nz = nd == 3 ? shape[0] : 1, ny = shape[nd - 2], nx = shape[nd - 1], inner = 1;
        for (int a = 0; a < nd; a++) inner *= shape[a] - 2;
        if (!(item == 1 || (item == 4 && strcmp(fmt, "f") == 0)) || b[2].view.len != inner * item ||
            b[0].view.len != nz * ny * nx) {
            PyErr_SetString(PyExc_ValueError, "unpack: out must be bool or float32 with the unpadded shape");
            goto done;
        }
        const uint8_t *st = b[0].view.buf;
        uint8_t *o8 = b[2].view.buf;
        float *of = b[2].view.buf;
        for (Py_ssize_t z = nd == 3; z < (nd == 3 ? nz - 1 : 1); z++)
            for (Py_ssize_t y = 1; y < ny - 1; y++) {
                const uint8_t *row = st + (z * ny + y) * nx + 1;
                if (zeroed) {
                    for (Py_ssize_t x = 0; x < nx - 2; x++) {
                        if (x + 8 <= nx - 2) { /* eight background pixels at a time */
                            uint64_t w;
                            memcpy(&w, row + x, 8);
                            if (!(w & 0x0101010101010101ull)) {
                                x += 7;
                                continue;
                            }
                        }
                        if (row[x] & FG) {
                            if (item == 1)
                                o8[x] = 1;
                            else
                                of[x] = 1.0f;
                        }
                    }
                    o8 += nx - 2;
                    of += nx - 2;
                } else if (item == 1) {
                    for (Py_ssize_t x = 0; x < nx - 2; x++) o8[x] = row[x] & FG;
                    o8 += nx - 2;
                } else {
                    for (Py_ssize_t x = 0; x < nx - 2; x++) of[x] = (float)(row[x] & FG);
                    of += nx - 2;
                }
            }
        Py_INCREF(Py_None);
        result = Py_None;
    }
done:
    for (int i = 0; i < 3; i++) release(&b[i]);
    return result;
}

/* sweep(state, list, n, allowed, nb_off, face_off, directions, nd, table) -> (n_deleted, n_list, n_new_codes)
 *   state          from pack and scan, modified in place
 *   list           intp (capacity: every foreground pixel): its first n entries are the border pixels to
 *                  visit (each marked INLIST; deleted or stable ones are dropped by the first pass);
 *                  rewritten in place with those of the next iteration
 *   allowed, nb_off, face_off, directions, nd, table: as in `iterate`
 * One iteration with `iterate`'s decisions in the same order (used for 3D; any nd works, 2D has sweep2d,
 * which the one-list layout makes 20-30% slower). Each direction starts with one pass over
 * the list that drops deleted and stable pixels and sorts the direction's candidates by subfield.
 * Deleting a pixel wakes its dormant neighbours; a woken pixel that was a candidate of the current
 * direction at its start (its neighbour in that direction was background then) joins the current pass
 * in its subfield's turn, exactly when the numpy sweep would have looked at it. */
static PyObject *sweep(PyObject *self, PyObject *args) {
    PyObject *o_st, *o_list, *o_allowed, *o_nb, *o_face, *o_dir, *o_table;
    Py_ssize_t n_cur;
    int nd;
    if (!PyArg_ParseTuple(args, "OOnOOOOiO", &o_st, &o_list, &n_cur, &o_allowed, &o_nb, &o_face, &o_dir,
                          &nd, &o_table))
        return NULL;
    Buf b_st, b_list, b_allowed, b_nb, b_face, b_dir, b_table;
    Buf *all[] = {&b_st, &b_list, &b_allowed, &b_nb, &b_face, &b_dir, &b_table};
    for (int i = 0; i < 7; i++) all[i]->held = 0;
    PyObject *result = NULL;
    Vec bucket[8], gone = {0};
    memset(bucket, 0, sizeof(bucket));
    if (get_buf(o_st, &b_st, 1, 1, "state") ||
        get_buf(o_list, &b_list, 1, sizeof(Py_ssize_t), "list") || get_buf(o_allowed, &b_allowed, 0, 1, "allowed") ||
        get_buf(o_nb, &b_nb, 0, sizeof(Py_ssize_t), "nb_off") || get_buf(o_face, &b_face, 0, sizeof(Py_ssize_t), "face_off") ||
        get_buf(o_dir, &b_dir, 0, sizeof(Py_ssize_t), "directions") || get_buf(o_table, &b_table, nd == 3, 1, "table"))
        goto done;
    {
        uint8_t *st = b_st.view.buf, *table = b_table.view.buf;
        const uint8_t *allowed = b_allowed.held ? b_allowed.view.buf : NULL;
        const Py_ssize_t *nb = b_nb.view.buf, *face = b_face.view.buf, *dirs = b_dir.view.buf;
        Py_ssize_t n_nb = b_nb.view.len / sizeof(Py_ssize_t), n_face = b_face.view.len / sizeof(Py_ssize_t);
        Py_ssize_t n_dir = b_dir.view.len / sizeof(Py_ssize_t);
        Py_ssize_t cap = b_list.view.len / sizeof(Py_ssize_t);
        Py_ssize_t *cur = b_list.view.buf;
        if (n_cur < 0 || n_cur > cap || n_nb != (nd == 2 ? 8 : 26)) {
            PyErr_SetString(PyExc_ValueError, "sweep: bad list length or neighbour offsets");
            goto done;
        }
        Py_ssize_t total = 0, new_codes = 0;
        for (Py_ssize_t di = 0; di < n_dir; di++) {
            Py_ssize_t d = dirs[di];
            for (int k = 0; k < 8; k++) bucket[k].n = 0;
            Py_ssize_t w = 0;
            for (Py_ssize_t i = 0; i < n_cur; i++) {
                Py_ssize_t p = cur[i];
                uint8_t s = st[p];
                if ((s & (FG | STABLE)) != FG) { /* deleted, or dormant from now on */
                    st[p] = s & (uint8_t)~(INLIST | JUSTGONE);
                    continue;
                }
                cur[w++] = p;
                if (!(st[p + d] & FG) && (!allowed || allowed[p]))
                    if (push(&bucket[s >> SUBSHIFT], p)) goto nomem;
            }
            n_cur = w;
            gone.n = 0;
            for (int k = 0; k < (1 << nd); k++) {
                for (Py_ssize_t i = 0; i < bucket[k].n; i++) { /* the bucket may grow while we go */
                    Py_ssize_t p = bucket[k].v[i];
                    uint8_t s = st[p];
                    if (s & STABLE) continue;
                    uint32_t code = 0;
                    for (Py_ssize_t j = 0; j < n_nb; j++) code |= (uint32_t)(st[p + nb[j]] & FG) << j;
                    if (!is_deletable(code, nd, table, &new_codes)) {
                        st[p] = s | STABLE;
                        continue;
                    }
                    st[p] = (uint8_t)((s & ~FG) | JUSTGONE);
                    if (push(&gone, p)) goto nomem;
                    for (Py_ssize_t j = 0; j < n_nb; j++) { /* the stable become unsure, the dormant wake up */
                        Py_ssize_t r = p + nb[j];
                        uint8_t sr = st[r] & (uint8_t)~STABLE;
                        st[r] = sr;
                        if (__builtin_expect((sr & (FG | INTERIOR | INLIST)) == FG, 0)) {
                            st[r] = sr | INLIST;
                            if (n_cur >= cap) goto overflow;
                            cur[n_cur++] = r;
                            int sk = sr >> SUBSHIFT;
                            if (sk > k && (!allowed || allowed[r]) && !(st[r + d] & (FG | JUSTGONE)))
                                if (push(&bucket[sk], r)) goto nomem;
                        }
                    }
                }
            }
            total += gone.n;
            for (Py_ssize_t i = 0; i < gone.n; i++) { /* interior face neighbours join the border */
                Py_ssize_t p = gone.v[i];
                for (Py_ssize_t f = 0; f < n_face; f++) {
                    Py_ssize_t q = p + face[f];
                    uint8_t sq = st[q];
                    if (sq & INTERIOR) {
                        st[q] = (uint8_t)((sq & ~INTERIOR) | INLIST);
                        if (n_cur >= cap) goto overflow;
                        cur[n_cur++] = q;
                    }
                }
            }
        }
        /* deleted and stable pixels stay listed until the next call's first pass drops them */
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
    for (int i = 0; i < 7; i++) release(all[i]);
    return result;
}

/* ------------------------------------------------------ 2D sweep, one list per direction
 * In 2D most listed pixels wait several direction passes before they become candidates, so the one-list
 * sweep visits each about four times. Here list e holds the pixels whose neighbour in direction e is
 * background: a pixel joins it when that neighbour is deleted (at the end of the pass), or when it wakes
 * from stable. A pixel may be listed twice (both ways); the pass skips what it already decided. The
 * lists live in a capsule between calls (dir_lists). Decisions and their order are `sweep`'s. */
typedef struct {
    Vec l[4];
} DirLists;

static void dir_lists_free(PyObject *capsule) {
    DirLists *L = PyCapsule_GetPointer(capsule, "skelkit.dir_lists");
    if (!L) return;
    for (int e = 0; e < 4; e++) free(L->l[e].v);
    free(L);
}

static PyObject *dir_lists(PyObject *self, PyObject *args) {
    DirLists *L = calloc(1, sizeof(DirLists));
    if (!L) return PyErr_NoMemory();
    PyObject *capsule = PyCapsule_New(L, "skelkit.dir_lists", dir_lists_free);
    if (!capsule) free(L);
    return capsule;
}

/* sweep2d(state, lists, pending, allowed, nb_off, directions, table) -> n_deleted
 *   state     from pack and scan (its INLIST and INTERIOR bits are not used), modified in place
 *   lists     from dir_lists(), empty on the first call
 *   pending   intp array or None: pixels to file into the lists first (scan's border)
 *   allowed, nb_off (8, row-major), directions (4), table: as in `sweep` */
static PyObject *sweep2d(PyObject *self, PyObject *args) {
    PyObject *o_st, *o_lists, *o_pend, *o_allowed, *o_nb, *o_dir, *o_table;
    if (!PyArg_ParseTuple(args, "OOOOOOO", &o_st, &o_lists, &o_pend, &o_allowed, &o_nb, &o_dir, &o_table))
        return NULL;
    DirLists *L = PyCapsule_GetPointer(o_lists, "skelkit.dir_lists");
    if (!L) return NULL;
    Buf b_st, b_pend, b_allowed, b_nb, b_dir, b_table;
    Buf *all[] = {&b_st, &b_pend, &b_allowed, &b_nb, &b_dir, &b_table};
    for (int i = 0; i < 6; i++) all[i]->held = 0;
    PyObject *result = NULL;
    Vec bucket[4], gone = {0};
    memset(bucket, 0, sizeof(bucket));
    if (get_buf(o_st, &b_st, 1, 1, "state") || get_buf(o_pend, &b_pend, 0, sizeof(Py_ssize_t), "pending") ||
        get_buf(o_allowed, &b_allowed, 0, 1, "allowed") || get_buf(o_nb, &b_nb, 0, sizeof(Py_ssize_t), "nb_off") ||
        get_buf(o_dir, &b_dir, 0, sizeof(Py_ssize_t), "directions") || get_buf(o_table, &b_table, 0, 1, "table"))
        goto done;
    {
        uint8_t *st = b_st.view.buf;
        const uint8_t *table = b_table.view.buf, *allowed = b_allowed.held ? b_allowed.view.buf : NULL;
        const Py_ssize_t *nb = b_nb.view.buf, *dirs = b_dir.view.buf;
        Py_ssize_t W = b_nb.view.len == 8 * sizeof(Py_ssize_t) ? nb[6] : 0;
        if (!W || b_dir.view.len != 4 * sizeof(Py_ssize_t) ||
            !(nb[0] == -W - 1 && nb[1] == -W && nb[2] == -W + 1 && nb[3] == -1 && nb[4] == 1 && nb[5] == W - 1 &&
              nb[7] == W + 1)) {
            PyErr_SetString(PyExc_ValueError, "sweep2d: expects 8 row-major neighbour offsets and 4 directions");
            goto done;
        }
        if (b_pend.held) {
            const Py_ssize_t *pend = b_pend.view.buf;
            for (Py_ssize_t i = 0; i < b_pend.view.len / (Py_ssize_t)sizeof(Py_ssize_t); i++)
                for (int e = 0; e < 4; e++)
                    if (!(st[pend[i] + dirs[e]] & FG) && push(&L->l[e], pend[i])) goto nomem;
        }
        Py_ssize_t total = 0;
        for (int di = 0; di < 4; di++) {
            Py_ssize_t d = dirs[di];
            Vec *list = &L->l[di];
            for (int k = 0; k < 4; k++) bucket[k].n = 0;
            Py_ssize_t w = 0;
            for (Py_ssize_t i = 0; i < list->n; i++) {
                Py_ssize_t p = list->v[i];
                uint8_t s = st[p];
                if ((s & (FG | STABLE)) != FG) continue; /* deleted, or stable: leaves this list */
                if (allowed && !allowed[p])
                    list->v[w++] = p; /* a candidate once allowed */
                else if (push(&bucket[(s >> SUBSHIFT) & 3], p))
                    goto nomem;
            }
            list->n = w;
            gone.n = 0;
            for (int k = 0; k < 4; k++) {
                for (Py_ssize_t i = 0; i < bucket[k].n; i++) { /* the bucket may grow while we go */
                    Py_ssize_t p = bucket[k].v[i];
                    uint8_t s = st[p];
                    if ((s & (FG | STABLE)) != FG) continue; /* listed twice */
                    int near_stable; /* read before the store below: reloading after it stalls */
                    if (!table[code2d(st, p, W, &near_stable)]) {
                        st[p] = s | STABLE;
                        continue;
                    }
                    st[p] = (uint8_t)((s & ~FG) | JUSTGONE);
                    if (push(&gone, p)) goto nomem;
                    if (!near_stable) continue;
                    for (int j = 0; j < 8; j++) { /* stable neighbours wake up */
                        Py_ssize_t r = p + nb[j];
                        uint8_t sr = st[r];
                        if (__builtin_expect(!(sr & STABLE), 1)) continue;
                        st[r] = sr & (uint8_t)~STABLE;
                        for (int e = 0; e < 4; e++)
                            if (!(st[r + dirs[e]] & FG) && push(&L->l[e], r)) goto nomem;
                        int sk = (sr >> SUBSHIFT) & 3;
                        if (sk > k && (!allowed || allowed[r]) && !(st[r + d] & (FG | JUSTGONE)))
                            if (push(&bucket[sk], r)) goto nomem;
                    }
                }
            }
            total += gone.n;
            for (int e = 0; e < 4; e++) /* room for the filing below, so that it needs no test */
                while (L->l[e].cap < L->l[e].n + gone.n)
                    if (grow(&L->l[e])) goto nomem;
            for (Py_ssize_t i = 0; i < gone.n; i++) { /* face neighbours of the deleted: their neighbour is background now */
                Py_ssize_t p = gone.v[i];
                st[p] &= (uint8_t)~JUSTGONE;
                for (int e = 0; e < 4; e++) {
                    Py_ssize_t q = p - dirs[e];
                    Vec *le = &L->l[e];
                    le->v[le->n] = q;
                    le->n += st[q] & FG;
                }
            }
        }
        result = PyLong_FromSsize_t(total);
        goto done;
    nomem:
        PyErr_NoMemory();
    }
done:
    for (int k = 0; k < 4; k++) free(bucket[k].v);
    free(gone.v);
    for (int i = 0; i < 6; i++) release(all[i]);
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
    {"pack", pack, METH_VARARGS, "Padded packed state of a mask (see thinning.py)."},
    {"scan", scan, METH_VARARGS, "Flags, subfields and border of a packed state (see thinning.py)."},
    {"unpack", unpack, METH_VARARGS, "The foreground of a packed state as bool or float32."},
    {"dir_lists", dir_lists, METH_NOARGS, "Empty per-direction lists for sweep2d."},
    {"sweep2d", sweep2d, METH_VARARGS, "One 2D thinning iteration with one list per direction (see thinning.py)."},
    {"sweep", sweep, METH_VARARGS, "One thinning iteration on a packed state (see thinning.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_thinc", "Compiled kernel of exact thinning.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__thinc(void) {
    init_masks();
    return PyModule_Create(&module);
}
