import { describe, expect, it } from 'vitest';
import { ClassLookupError, classesFromNames, editDistance, findClass, imagenetClasses, suggestClasses } from './classes';

describe('ImageNet classes', () => {
  it('has the 1000 synsets in sorted-wnid order with names', () => {
    const c = imagenetClasses();
    expect(c).toHaveLength(1000);
    const wnids = c.map((x) => x.wnid!);
    expect(new Set(wnids).size).toBe(1000);
    expect([...wnids].sort()).toEqual(wnids);
    expect(c[0]).toMatchObject({ index: 0, wnid: 'n01440764', name: 'tench' });
    expect(c[207]).toMatchObject({ wnid: 'n02099601', name: 'golden retriever' });
    expect(c[999]).toMatchObject({ wnid: 'n15075141', name: 'toilet tissue' });
    expect(c.every((x) => x.synonyms.length > 0 && x.name.length > 0)).toBe(true);
  });

  it('finds classes by index, wnid, name and synonym', () => {
    expect(findClass(207).name).toBe('golden retriever');
    expect(findClass(' 88 ').index).toBe(88);
    expect(findClass('n01440764').index).toBe(0);
    expect(findClass('Golden_Retriever').index).toBe(207);
    expect(findClass('great white shark').index).toBe(2);
    expect(findClass('polar bear').index).toBe(296); // a synonym of "ice bear"
    expect(findClass('tank suit').index).toBe(639);
  });

  it('suggests close matches for typos and reports ambiguity and range', () => {
    let err: unknown;
    try {
      findClass('golden retreiver');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClassLookupError);
    expect((err as ClassLookupError).kind).toBe('unknown');
    expect((err as ClassLookupError).candidates[0].index).toBe(207);
    expect((err as Error).message).toMatch(/did you mean: golden retriever \(207, n02099601\)/);
    expect(() => findClass('crane')).toThrow(/ambiguous: crane \(134, n02012849\), crane \(517, n03126707\)/);
    expect(() => findClass(1000)).toThrow(/out of range/);
    expect(() => findClass('qqqqqqqqqqqqqq')).toThrow(/^unknown class "qqqqqqqqqqqqqq"$/);
    expect(suggestClasses('tenhc').map((c) => c.name)).toContain('tench');
    expect(suggestClasses('retriever').length).toBe(5);
  });

  it('maps ImageFolder folder names: wnids get ImageNet names, others keep theirs', () => {
    const c = classesFromNames(['Bag', 'n01443537']);
    expect(c[0]).toEqual({ index: 0, name: 'Bag', synonyms: ['Bag'] });
    expect(c[1]).toMatchObject({ index: 1, name: 'goldfish', wnid: 'n01443537' });
    expect(findClass('bag', c).index).toBe(0);
    expect(() => findClass('bga', c)).toThrow(/did you mean: Bag \(0\)/);
  });

  it('edit distance counts swaps as one edit', () => {
    expect(editDistance('abcd', 'abdc')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('a', 'abcdef', 2)).toBe(3);
  });
});
