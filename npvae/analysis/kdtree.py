"""Exact k nearest neighbours in a few dimensions: a kd-tree with a Numba query (the LOF's search).

The tree splits each node on its widest coordinate, near the median but at a whole number of
leaves (the smaller ``leaf_size`` x ceil(leaves / 2) points to the left), so that every leaf
but the last holds exactly ``leaf_size`` points; it keeps the points in tree order, each leaf's
coordinates as one block (Z, leaf_size) (coordinate-major: one pass over a coordinate serves
the whole leaf, which the compiler vectorises), and each node's tight bounding box. A query
walks the tree depth first, the nearer child first, skips every node whose box is farther than
its k-th best point so far, and keeps its k best sorted by insertion. In its first leaf it
tries only the points at or below a cap that already has k of them beneath it (the smallest
such of about 16 sampled points), instead of filling the k places with whatever comes first.
The queries of one call are answered in the order of the leaves they fall in (neighbouring
queries then read the same nodes, still in cache); every answer depends on its query alone,
never on the others or their order, so a batch may be split anywhere (the kernel releases the GIL).

Exact to the bit: squared distances are summed in the order of SciPy's ``cKDTree`` (the first
4 x (Z // 4) coordinates in four accumulators, added left to right, then the rest one by one;
for Z < 8 that is plain left to right, written so), so the distances are ``cKDTree.query``'s. A box's
distance is summed the same way from per-coordinate gaps that never exceed the differences to a
point inside it, so even in floating point it never exceeds such a point's distance, and
pruning with it loses no neighbour. Ties: neighbours are ordered by (distance, reference
index), the smaller index first, also at the k-th place, where ``cKDTree`` leaves it open.

Shapes: N reference points, B queries, Z dimensions, K neighbours, L nodes, W leaf size.
"""
import numba
import numpy as np

from ..utils import NpvaeError

__all__ = ["KdTree", "LEAF_SIZE"]

LEAF_SIZE = 128          # points per leaf at most
_jit = numba.njit(cache=True, nogil=True)                # the two kernels, _leaf_of and _query
_inline = numba.njit(cache=True, inline="always")         # their helpers, inlined (plain body: ``.py_func``)


class KdTree:
    """A kd-tree over reference points (N, Z), queried for exact k nearest neighbours.

    Parameters
    ----------
    points : array (N, Z), finite; kept as float64.
    leaf_size : int, points per leaf at most.
    """

    def __init__(self, points, leaf_size=LEAF_SIZE):
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or len(points) == 0 or not np.isfinite(points).all():
            raise NpvaeError(f"the kd-tree needs finite reference points (N, Z), N >= 1, got shape {points.shape}")
        self.n, self.n_dim = points.shape
        self.leaf_size = max(1, int(leaf_size))
        nodes = _Nodes()
        self.ids = np.arange(self.n)                                       # (N,) reference index, tree order
        self.depth = _split(points, self.ids, 0, self.n, self.leaf_size, nodes)
        self.blocks = _leaf_blocks(points[self.ids], self.leaf_size)       # (N / W, Z, W), tree order
        (self.start, self.stop, self.left, self.right, self.split_dim, self.split_value,
         self.box_lo, self.box_hi) = nodes.arrays(self.n_dim)

    def query(self, x, k):
        """The k nearest reference points of each row of x (B, Z), nearest first.

        Returns
        -------
        dist : (B, K) float64, Euclidean distances, ascending.
        index : (B, K) int64, reference indices (rows of ``points``); equal distances in
            ascending index.
        """
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_dim:
            raise NpvaeError(f"queries must be (B, {self.n_dim}), got shape {x.shape}")
        if not 1 <= int(k) <= self.n:
            raise NpvaeError(f"k must be in 1..{self.n} (the reference points), got {k}")
        if not np.isfinite(x).all():
            raise NpvaeError("the queries must be finite")
        k = int(k)
        dist, index = np.empty((len(x), k)), np.empty((len(x), k), np.int64)   # (B, K) each
        if len(x):
            leaf = _leaf_of_jit(x, self.left, self.right, self.split_dim, self.split_value)   # (B,)
            order = np.argsort(leaf, kind="stable")                                           # (B,)
            _query_jit(self.blocks, self.ids, self.start, self.stop, self.left, self.right, self.box_lo,
                       self.box_hi, x, order, k, self.depth + 2, dist, index)
        return dist, index


class _Nodes:
    """Lists of the node fields while the tree is built (node i = the i-th appended)."""

    def __init__(self):
        self.fields = {name: [] for name in ("start", "stop", "left", "right", "split_dim", "split_value",
                                             "box_lo", "box_hi")}

    def add(self, start, stop, box_lo, box_hi):
        """A new node (a leaf until ``set_children``) -> its number."""
        for name, value in (("start", start), ("stop", stop), ("left", -1), ("right", -1), ("split_dim", -1),
                            ("split_value", 0.0), ("box_lo", box_lo), ("box_hi", box_hi)):
            self.fields[name].append(value)
        return len(self.fields["start"]) - 1

    def set_children(self, node, left, right, dim, value):
        for name, v in (("left", left), ("right", right), ("split_dim", dim), ("split_value", value)):
            self.fields[name][node] = v

    def arrays(self, n_dim):
        """start, stop, left, right, split_dim (L,) int64, split_value (L,), box_lo, box_hi (L, Z)."""
        f = self.fields
        ints = [np.array(f[n], np.int64) for n in ("start", "stop", "left", "right", "split_dim")]
        boxes = [np.array(f[n], np.float64).reshape(-1, n_dim) for n in ("box_lo", "box_hi")]
        return (*ints, np.array(f["split_value"], np.float64), *boxes)


def _leaf_blocks(points, leaf_size):
    """Points (N, Z) in tree order -> each leaf's coordinates (ceil(N / W), Z, W); the last one zero padded."""
    n, n_dim = points.shape
    padded = np.zeros((-(-n // leaf_size) * leaf_size, n_dim))            # (N up to whole leaves, Z)
    padded[:n] = points
    return np.ascontiguousarray(padded.reshape(-1, leaf_size, n_dim).transpose(0, 2, 1))


def _split(points, ids, start, stop, leaf_size, nodes):
    """Add the node of ids[start:stop] (reordered in place) and its subtree -> the subtree's depth."""
    sub = points[ids[start:stop]]                                          # (n, Z)
    lo, hi = sub.min(axis=0), sub.max(axis=0)                              # (Z,) the tight box
    node = nodes.add(start, stop, lo, hi)
    if stop - start <= leaf_size:
        return 0
    dim = int(np.argmax(hi - lo))
    n_leaves = -(-(stop - start) // leaf_size)                             # ceil: leaves below this node
    mid = start + leaf_size * (n_leaves // 2)                              # whole leaves on the left
    ids[start:stop] = ids[start:stop][np.argpartition(sub[:, dim], mid - start)]   # left: the smaller part
    value = points[ids[mid], dim]
    left_depth = _split(points, ids, start, mid, leaf_size, nodes)
    left = node + 1
    right = len(nodes.fields["start"])
    right_depth = _split(points, ids, mid, stop, leaf_size, nodes)
    nodes.set_children(node, left, right, dim, value)
    return 1 + max(left_depth, right_depth)


@_inline
def _leaf_sq_dists(x, b, blocks, leaf, out, acc):
    """out[j] = sum_z (x[b, z] - blocks[leaf, z, j])^2 for the W points of a leaf, summed as cKDTree does.

    Z < 8: left to right; Z >= 8: coordinate z into accumulator z % 4 up to 4 (Z // 4), the four added
    left to right, then the rest. ``acc`` (4, W) is scratch.
    """
    n, width = x.shape[1], blocks.shape[2]
    if n < 8:
        q = x[b, 0]
        for j in range(width):                                            # 0 + d^2 = d^2 exactly
            d = q - blocks[leaf, 0, j]
            out[j] = d * d
        for z in range(1, n):
            q = x[b, z]
            for j in range(width):
                d = q - blocks[leaf, z, j]
                out[j] += d * d
        return
    for r in range(4):
        for j in range(width):
            acc[r, j] = 0.0
    four = 4 * (n // 4)
    for z in range(four):
        q = x[b, z]
        for j in range(width):
            d = q - blocks[leaf, z, j]
            acc[z % 4, j] += d * d
    for j in range(width):
        out[j] = acc[0, j] + acc[1, j] + acc[2, j] + acc[3, j]
    for z in range(four, n):
        q = x[b, z]
        for j in range(width):
            d = q - blocks[leaf, z, j]
            out[j] += d * d


@_inline
def _gap(q, lo, hi):
    """Distance of coordinate q to the interval [lo, hi] (0 inside): never above |q - p| for p in it."""
    return max(lo - q, q - hi, 0.0)


@_inline
def _box_sq_dist(x, b, box_lo, box_hi, node):
    """Squared distance of x[b] (Z,) to the box of a node, summed like :func:`_leaf_sq_dists`."""
    n = x.shape[1]
    s = 0.0
    if n < 8:
        for z in range(n):
            g = _gap(x[b, z], box_lo[node, z], box_hi[node, z])
            s += g * g
        return s
    acc0 = acc1 = acc2 = acc3 = 0.0
    z = 0
    while z + 4 <= n:
        g0, g1 = _gap(x[b, z], box_lo[node, z], box_hi[node, z]), _gap(x[b, z + 1], box_lo[node, z + 1], box_hi[node, z + 1])
        g2, g3 = _gap(x[b, z + 2], box_lo[node, z + 2], box_hi[node, z + 2]), _gap(x[b, z + 3], box_lo[node, z + 3],
                                                                                   box_hi[node, z + 3])
        acc0 += g0 * g0
        acc1 += g1 * g1
        acc2 += g2 * g2
        acc3 += g3 * g3
        z += 4
    s = acc0 + acc1 + acc2 + acc3
    while z < n:
        g = _gap(x[b, z], box_lo[node, z], box_hi[node, z])
        s += g * g
        z += 1
    return s


@_inline
def _worse(d_a, id_a, d_b, id_b):
    """(d_a, id_a) after (d_b, id_b) in the neighbour order: farther, or as far with a larger index."""
    return d_a > d_b or (d_a == d_b and id_a > id_b)


@_inline
def _n_within(leaf_d, m, bound):
    """How many of leaf_d[:m] are <= bound (a branch-free count)."""
    n = 0
    for j in range(m):
        n += leaf_d[j] <= bound
    return n


@_inline
def _kth_cap(leaf_d, m, k):
    """A value with at least k of leaf_d[:m] (m >= k) at or below it, near the k-th smallest.

    The smallest of about 16 sampled lanes that has k lanes at or below it (inf when none has):
    a bound on the k-th nearest distance before k points are kept.
    """
    cap = np.inf
    for j in range(0, m, max(1, m // 16)):
        if leaf_d[j] < cap and _n_within(leaf_d, m, leaf_d[j]) >= k:
            cap = leaf_d[j]
    return cap


@_inline
def _try_leaf(leaf_d, m, bound, ids, first, best_d, best_id, count):
    """Insert the leaf's points (squared distances leaf_d[:m], ids[first:first + m]) that beat the best -> count.

    Only points at or below ``bound`` are tried (the k-th best so far, or a cap with k points below).
    """
    k = best_d.shape[0]
    if _n_within(leaf_d, m, bound) == 0:                                  # none as near as the bound: skip
        return count
    for j in range(m):
        d = leaf_d[j]
        if d <= bound and (count < k or _worse(best_d[k - 1], best_id[k - 1], d, ids[first + j])):
            count = _insert(best_d, best_id, count, d, ids[first + j])
    return count


@_inline
def _insert(best_d, best_id, count, d, ident):
    """Put (d, ident) in place in the sorted best_d, best_id (K,) holding ``count`` entries -> the new count.

    With K entries already, the last one (the worst) drops out; (d, ident) must come before it.
    """
    k = best_d.shape[0]
    i = count if count < k else k - 1
    while i > 0 and _worse(best_d[i - 1], best_id[i - 1], d, ident):       # shift the worse ones up
        best_d[i], best_id[i] = best_d[i - 1], best_id[i - 1]
        i -= 1
    best_d[i], best_id[i] = d, ident
    return min(count + 1, k)


def _leaf_of(x, left, right, split_dim, split_value):
    """The leaf (node number) each query (B, Z) falls in, going down by the split values -> (B,)."""
    leaf = np.empty(x.shape[0], np.int64)
    for b in range(x.shape[0]):
        node = 0
        while left[node] >= 0:
            node = left[node] if x[b, split_dim[node]] < split_value[node] else right[node]
        leaf[b] = node
    return leaf


def _query(blocks, ids, start, stop, left, right, box_lo, box_hi, x, order, k, stack_size, dist, index):
    """Fill dist, index (B, K) with the k nearest points of each query x[b], visiting b in ``order``."""
    width = blocks.shape[2]
    best_d, best_id = np.empty(k), np.empty(k, np.int64)                  # (K,) the best so far, nearest first
    leaf_d, acc = np.empty(width), np.empty((4, width))                   # a leaf's squared distances
    stack_node, stack_d = np.empty(stack_size, np.int64), np.empty(stack_size)   # nodes to visit, box distances
    for t in range(order.shape[0]):
        b = order[t]
        count, top = 0, 1
        stack_node[0], stack_d[0] = 0, 0.0
        while top > 0:
            top -= 1
            node = stack_node[top]
            bound = best_d[k - 1] if count == k else np.inf               # the k-th best so far
            if stack_d[top] > bound:
                continue
            if left[node] < 0:                                            # a leaf: try its points
                first, m = start[node], stop[node] - start[node]
                _leaf_sq_dists(x, b, blocks, first // width, leaf_d, acc)
                if count == 0 and m >= k:                                 # the first leaf: only its nearest few
                    bound = _kth_cap(leaf_d, m, k)
                count = _try_leaf(leaf_d, m, bound, ids, first, best_d, best_id, count)
                continue
            near, far = left[node], right[node]
            d_near, d_far = _box_sq_dist(x, b, box_lo, box_hi, near), _box_sq_dist(x, b, box_lo, box_hi, far)
            if d_far < d_near:
                near, far, d_near, d_far = far, near, d_far, d_near
            if d_far <= bound:                                            # popped after the nearer subtree
                stack_node[top], stack_d[top] = far, d_far
                top += 1
            if d_near <= bound:
                stack_node[top], stack_d[top] = near, d_near
                top += 1
        for j in range(k):
            dist[b, j], index[b, j] = np.sqrt(best_d[j]), best_id[j]


_leaf_of_jit = _jit(_leaf_of)
_query_jit = _jit(_query)
