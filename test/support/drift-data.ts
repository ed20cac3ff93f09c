/**
 * Generated drift datasets for the benchmark and the streaming tests: `numeric` float columns
 * (normal, exponential and uniform, written with 4 decimals) and `categorical` string columns
 * (8 categories with skewed shares), from a seed. `shift` moves the current side's distributions
 * (0: same distributions). Written in chunks, so a file of any size takes little memory to make.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { seeded } from './random';

export interface DriftDataSpec {
  rows: number;
  numeric?: number;
  categorical?: number;
  seed?: number;
  /** 0: no drift; 1: every numeric column shifts by about a third of its std, categories reweight. */
  shift?: number;
}

const CATEGORIES = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];

export async function writeDriftCsv(path: string, spec: DriftDataSpec): Promise<void> {
  const numeric = spec.numeric ?? 15;
  const categorical = spec.categorical ?? 5;
  const shift = spec.shift ?? 0;
  const random = seeded(spec.seed ?? 1);
  const normal = (): number => {
    const u = 1 - random();
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const header: string[] = [];
  for (let i = 0; i < numeric; i++) header.push(`num_${i}`);
  for (let i = 0; i < categorical; i++) header.push(`cat_${i}`);
  const out = createWriteStream(path);
  let buffer = header.join(',') + '\n';
  const weights = CATEGORIES.map((_, i) => 1 / (i + 1 + shift * (i % 2 ? -0.4 : 0.6)));
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative = weights.map(
    (
      (s) => (w: number) =>
        (s += w / total)
    )(0),
  );
  for (let r = 0; r < spec.rows; r++) {
    const fields: string[] = [];
    for (let i = 0; i < numeric; i++) {
      let v: number;
      if (i % 3 === 0) v = 50 + 10 * normal() + 3.3 * shift;
      else if (i % 3 === 1) v = -Math.log(1 - random()) * (5 + shift);
      else v = random() * 100 + 3 * shift * (i % 2);
      fields.push(v.toFixed(4));
    }
    for (let i = 0; i < categorical; i++) {
      const u = random();
      let k = 0;
      while (k < CATEGORIES.length - 1 && u > cumulative[k]) k++;
      fields.push(CATEGORIES[k]);
    }
    buffer += fields.join(',') + '\n';
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  }
  out.end(buffer);
  await once(out, 'finish');
}
