import synsets from './synsets.json';

/** One class of a dataset: its label index, display name, and (for ImageNet) WordNet id and synonyms. */
export interface ClassInfo {
  /** Label index, `0 ≤ index < number of classes`. */
  readonly index: number;
  /** Short human-readable name, e.g. `"tench"`, `"great white shark"`. */
  readonly name: string;
  /** WordNet synset id (`"n01440764"`) for ImageNet classes. */
  readonly wnid?: string;
  /** Every name of the synset (WordNet lemmas, e.g. `["tench", "Tinca tinca"]`). */
  readonly synonyms: readonly string[];
}

let imagenet: readonly ClassInfo[] | undefined;

/**
 * The 1000 ImageNet-1k classes in the standard label order (index = position of the wnid in the sorted
 * wnid list, which is what `ImageFolder` gives on the usual `train/<wnid>/` layout), with Keras-style short
 * names and the WordNet synonym lists. Names are not unique (`crane` is 134 and 517, `maillot` 638 and 639).
 */
export function imagenetClasses(): readonly ClassInfo[] {
  imagenet ??= Object.freeze(
    (synsets as { wnid: string; name: string; synonyms: string[] }[]).map((s, index) =>
      Object.freeze({ index, name: s.name, wnid: s.wnid, synonyms: Object.freeze([...s.synonyms]) }),
    ),
  );
  return imagenet;
}

/**
 * Class list for arbitrary folder names (an `ImageFolder`'s sorted class names): folder names that are
 * ImageNet wnids get the ImageNet name and synonyms, others are their own name.
 */
export function classesFromNames(names: readonly string[]): ClassInfo[] {
  const byWnid = new Map(imagenetClasses().map((c) => [c.wnid, c]));
  return names.map((folder, index) => {
    const known = byWnid.get(folder);
    return known
      ? { index, name: known.name, wnid: known.wnid, synonyms: known.synonyms }
      : { index, name: folder, synonyms: [folder] };
  });
}

/** Why {@link findClass} failed: no such class, several classes of that name, or an index out of range. */
export class ClassLookupError extends Error {
  constructor(
    message: string,
    readonly query: string | number,
    readonly kind: 'unknown' | 'ambiguous' | 'out-of-range',
    /** Close matches (unknown) or the classes sharing the name (ambiguous), best first. */
    readonly candidates: readonly ClassInfo[],
  ) {
    super(message);
    this.name = 'ClassLookupError';
  }
}

function normalize(s: string): string {
  return s.trim().toLowerCase().replace(/[\s_-]+/g, ' ');
}

function describe(c: ClassInfo): string {
  return c.wnid ? `${c.name} (${c.index}, ${c.wnid})` : `${c.name} (${c.index})`;
}

/**
 * Finds a class by label index (number or digit string), WordNet id, name or synonym (case, spaces,
 * underscores and hyphens ignored). A name shared by several classes matches the class whose short name it is
 * only when exactly one has it. Throws {@link ClassLookupError} with close-match `candidates` otherwise,
 * with a message like `unknown class "tenhc"; did you mean: tench (0, n01440764), ...?`.
 */
export function findClass(query: string | number, classes: readonly ClassInfo[] = imagenetClasses()): ClassInfo {
  if (typeof query === 'number' || /^\s*\d+\s*$/.test(query)) {
    const index = Number(query);
    if (Number.isInteger(index) && index >= 0 && index < classes.length) return classes[index];
    throw new ClassLookupError(`class index ${query} out of range [0, ${classes.length})`, query, 'out-of-range', []);
  }
  const q = normalize(query);
  const byWnid = classes.find((c) => c.wnid !== undefined && c.wnid.toLowerCase() === q);
  if (byWnid) return byWnid;
  for (const field of ['name', 'synonyms'] as const) {
    const hits = classes.filter((c) =>
      field === 'name' ? normalize(c.name) === q : c.synonyms.some((s) => normalize(s) === q),
    );
    if (hits.length === 1) return hits[0];
    if (hits.length > 1) {
      throw new ClassLookupError(
        `class name "${query}" is ambiguous: ${hits.map(describe).join(', ')}; use the index or wnid`,
        query,
        'ambiguous',
        hits,
      );
    }
  }
  const candidates = suggestClasses(query, classes);
  const hint = candidates.length ? `; did you mean: ${candidates.map(describe).join(', ')}?` : '';
  throw new ClassLookupError(`unknown class "${query}"${hint}`, query, 'unknown', candidates);
}

/**
 * Up to `limit` classes whose name or a synonym is closest to `query`: names containing the query (or
 * contained in it) first, then by edit distance (Damerau–Levenshtein, at most about a third of the length).
 */
export function suggestClasses(query: string, classes: readonly ClassInfo[] = imagenetClasses(), limit = 5): ClassInfo[] {
  const q = normalize(query);
  if (!q) return [];
  const maxDistance = Math.max(1, Math.floor(q.length / 3));
  const scored: { c: ClassInfo; score: number }[] = [];
  for (const c of classes) {
    let best = Infinity;
    for (const s of [c.name, ...c.synonyms]) {
      const n = normalize(s);
      if (q.length >= 3 && (n.includes(q) || q.includes(n))) best = Math.min(best, Math.abs(n.length - q.length) / 100);
      const d = editDistance(q, n, maxDistance);
      if (d <= maxDistance) best = Math.min(best, d);
    }
    if (best < Infinity) scored.push({ c, score: best });
  }
  scored.sort((a, b) => a.score - b.score || a.c.index - b.c.index);
  return scored.slice(0, limit).map((s) => s.c);
}

/** Optimal-string-alignment distance (insert, delete, substitute, swap neighbours), capped: returns > cap early. */
export function editDistance(a: string, b: string, cap = Infinity): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  const m = b.length;
  let prev2 = new Array<number>(m + 1).fill(0);
  let prev = Array.from({ length: m + 1 }, (_, j) => j);
  let cur = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2] + 1);
      cur[j] = v;
      rowMin = Math.min(rowMin, v);
    }
    if (rowMin > cap) return cap + 1;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[m];
}
