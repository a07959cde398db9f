/**
 * Building and slicing compressed-sparse-row lists (Csr: row r holds indices[indptr[r] .. indptr[r+1])),
 * the shape every native op takes for per-user item sets.
 */
import type { Csr } from '../kernels/types';

/** A CSR from one list of columns per row, kept as given (order and repeats). */
export function csrFromLists(rows: readonly (readonly number[])[]): Csr {
  const indptr = new Int32Array(rows.length + 1);
  rows.forEach((row, r) => (indptr[r + 1] = indptr[r] + row.length));
  return { indptr, indices: Int32Array.from(rows.flat()) };
}

/** Rows of (row[e], col[e]) pairs, each row's columns sorted ascending and de-duplicated. */
export function csrFromPairs(numRows: number, rows: ArrayLike<number>, cols: ArrayLike<number>): Csr {
  const counts = new Int32Array(numRows + 1);
  for (let e = 0; e < rows.length; e++) counts[rows[e] + 1]++;
  for (let r = 0; r < numRows; r++) counts[r + 1] += counts[r];
  const fill = counts.slice(0, numRows);
  const raw = new Int32Array(rows.length);
  for (let e = 0; e < rows.length; e++) raw[fill[rows[e]]++] = cols[e];
  const indptr = new Int32Array(numRows + 1);
  let out = 0;
  for (let r = 0; r < numRows; r++) {
    const row = raw.subarray(counts[r], counts[r + 1]).sort();
    for (let t = 0; t < row.length; t++) {
      if (t > 0 && row[t] === row[t - 1]) continue;
      raw[out++] = row[t];
    }
    indptr[r + 1] = out;
  }
  return { indptr, indices: raw.slice(0, out) };
}

/** The transpose: for each column, the rows that list it (sorted when the input rows are). */
export function transposeCsr(csr: Csr, numCols: number): Csr {
  const numRows = csr.indptr.length - 1;
  const indptr = new Int32Array(numCols + 1);
  for (let e = 0; e < csr.indices.length; e++) indptr[csr.indices[e] + 1]++;
  for (let c = 0; c < numCols; c++) indptr[c + 1] += indptr[c];
  const fill = indptr.slice(0, numCols);
  const indices = new Int32Array(csr.indices.length);
  for (let r = 0; r < numRows; r++) {
    for (let e = csr.indptr[r]; e < csr.indptr[r + 1]; e++) indices[fill[csr.indices[e]]++] = r;
  }
  return { indptr, indices };
}

/** The rows `rows` of csr, in that order. */
export function selectRows(csr: Csr, rows: ArrayLike<number>): Csr {
  const indptr = new Int32Array(rows.length + 1);
  for (let r = 0; r < rows.length; r++) indptr[r + 1] = indptr[r] + csr.indptr[rows[r] + 1] - csr.indptr[rows[r]];
  const indices = new Int32Array(indptr[rows.length]);
  for (let r = 0; r < rows.length; r++) {
    indices.set(csr.indices.subarray(csr.indptr[rows[r]], csr.indptr[rows[r] + 1]), indptr[r]);
  }
  return { indptr, indices };
}

/** Row-wise concatenation of two Csr lists over the same rows (duplicates kept). */
export function concatRows(a: Csr, b: Csr): Csr {
  const numRows = a.indptr.length - 1;
  const indptr = new Int32Array(numRows + 1);
  for (let r = 0; r < numRows; r++) {
    indptr[r + 1] = indptr[r] + (a.indptr[r + 1] - a.indptr[r]) + (b.indptr[r + 1] - b.indptr[r]);
  }
  const indices = new Int32Array(indptr[numRows]);
  for (let r = 0; r < numRows; r++) {
    const fromA = a.indices.subarray(a.indptr[r], a.indptr[r + 1]);
    indices.set(fromA, indptr[r]);
    indices.set(b.indices.subarray(b.indptr[r], b.indptr[r + 1]), indptr[r] + fromA.length);
  }
  return { indptr, indices };
}

/** Every (row, column) entry as parallel arrays, row by row. */
export function csrPairs(csr: Csr): { rows: Int32Array; cols: Int32Array } {
  const numRows = csr.indptr.length - 1;
  const rows = new Int32Array(csr.indices.length);
  for (let r = 0; r < numRows; r++) rows.fill(r, csr.indptr[r], csr.indptr[r + 1]);
  return { rows, cols: csr.indices.slice() };
}

export function rowLength(csr: Csr, row: number): number {
  return csr.indptr[row + 1] - csr.indptr[row];
}
