/**
 * Rendering of experiment reports: a markdown table (mean ± 95% CI half-width, times) with the paired
 * tests against the reference model, or the report object as JSON. Sampled-ranking results are
 * labelled "sampled" in the title, the table header and every metric name.
 */
import type { ExperimentReport, ModelResult } from './harness';

/** Metrics shown in the markdown table, at the report's middle cut-off (10 by default). */
const TABLE_METRICS = ['precision', 'recall', 'ndcg', 'map', 'hit', 'mrr'];
const BEYOND_METRICS = ['coverage', 'novelty', 'tailShare', 'ild'];
/** Metrics the markdown shows paired tests for. */
const TESTED_METRICS = ['ndcg', 'recall'];

function tableK(report: ExperimentReport): number {
  return report.protocol.ks.includes(10) ? 10 : report.protocol.ks[Math.floor(report.protocol.ks.length / 2)];
}

function fmt(x: number | undefined, digits = 4): string {
  if (x === undefined || Number.isNaN(x)) return '–';
  return x.toFixed(digits);
}

function cell(result: ModelResult, key: string): string {
  const mean = result.metrics[key];
  if (mean === undefined) return '–';
  const ci = result.ci95[key];
  if (!ci || Number.isNaN(ci[0]) || ci[1] === ci[0]) return fmt(mean);
  return `${fmt(mean)} ± ${fmt((ci[1] - ci[0]) / 2)}`;
}

function pValue(p: number): string {
  if (Number.isNaN(p)) return '–';
  if (p < 1e-16) return '< 1e-16';
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}

export function renderMarkdown(report: ExperimentReport, command?: string): string {
  const k = tableK(report);
  const sampled = report.protocol.ranking === 'sampled';
  const label = (key: string) => (sampled ? `${key} (sampled)` : key);
  const models = Object.entries(report.models);
  const lines: string[] = [];
  const d = report.dataset;
  lines.push(
    `## ${d.name}: ${report.protocol.name}${sampled ? ', SAMPLED ranking (1 positive + 99 negatives)' : ', full ranking'}`,
  );
  lines.push('');
  if (sampled) {
    lines.push(
      '> **Sampled ranking**: each held-out item is ranked against 99 sampled negatives. These numbers are not ' +
        'comparable with full-ranking results and can order models differently; semrec makes no claims on them.',
    );
    lines.push('');
  }
  lines.push(
    `${d.numUsers} users, ${d.numItems} items, ${d.numInteractions} interactions. Seeds ${report.protocol.seeds.join(', ')}; ` +
      `${report.protocol.excluded}. ` +
      (report.protocol.earlyStopping
        ? `Early stopping on validation ${report.protocol.earlyStopping.metric} (patience ${report.protocol.earlyStopping.patience}). `
        : 'No early stopping. ') +
      `± is the half-width of the ${report.protocol.ci}.`,
  );
  lines.push('');
  lines.push(`Split: ${report.protocol.split.summary}`);
  lines.push('');
  if (report.itemFeatures.usedBy.length > 0) {
    lines.push(`Item features (${report.itemFeatures.usedBy.join(', ')}): ${report.itemFeatures.source}.`);
    lines.push('');
  }
  if (report.stdNote) {
    lines.push(`Note: ${report.stdNote}.`);
    lines.push('');
  }
  const accuracy = sampled
    ? [`hit@${k}`, `ndcg@${k}`, 'mrr']
    : [...TABLE_METRICS.map((m) => `${m}@${k}`), 'mrr'];
  const beyond = sampled ? [] : BEYOND_METRICS.map((m) => `${m}@${k}`).filter((key) => models.some(([, r]) => key in r.metrics));
  const columns = [...accuracy, ...beyond];
  lines.push(`| model | ${columns.map(label).join(' | ')} | train s | eval s |`);
  lines.push(`|---|${columns.map(() => '---:').join('|')}|---:|---:|`);
  for (const [name, r] of models) {
    lines.push(`| ${name} | ${columns.map((c) => cell(r, c)).join(' | ')} | ${r.trainSeconds.toFixed(1)} | ${r.evalSeconds.toFixed(2)} |`);
  }
  const rated = models.filter(([, r]) => 'rmse' in r.metrics);
  if (rated.length > 0) {
    lines.push('');
    lines.push('Rating prediction on the test interactions:');
    lines.push('');
    lines.push('| model | RMSE | MAE |');
    lines.push('|---|---:|---:|');
    for (const [name, r] of rated) lines.push(`| ${name} | ${cell(r, 'rmse')} | ${cell(r, 'mae')} |`);
  }
  if (report.reference && models.length > 1) {
    lines.push('');
    lines.push(
      `Paired tests against \`${report.reference}\` over users (each user's value averaged over the seeds): ` +
        'mean difference, two-sided p-values of the paired t-test and the Wilcoxon signed-rank test.',
    );
    lines.push('');
    const tested = TESTED_METRICS.map((m) => `${m}@${k}`);
    lines.push(`| model | ${tested.map((t) => `Δ ${label(t)} | t p | Wilcoxon p`).join(' | ')} |`);
    lines.push(`|---|${tested.map(() => '---:|---:|---:').join('|')}|`);
    for (const [name, r] of models) {
      if (!r.tests) continue;
      const cells = tested.map((t) => {
        const test = r.tests![t];
        return test ? `${test.meanDifference >= 0 ? '+' : ''}${fmt(test.meanDifference)} | ${pValue(test.tPValue)} | ${pValue(test.wilcoxonPValue)}` : '– | – | –';
      });
      lines.push(`| ${name} | ${cells.join(' | ')} |`);
    }
  }
  lines.push('');
  lines.push(
    `Epochs run (best) per seed: ${models
      .filter(([, r]) => r.perSeed.some((s) => s.epochs > 0))
      .map(([name, r]) => `${name} ${r.perSeed.map((s) => `${s.epochs} (${s.bestEpoch})`).join(', ')}`)
      .join('; ')}.`,
  );
  lines.push('');
  lines.push('Hyperparameters (defaults filled in):');
  lines.push('');
  for (const [name, r] of models) lines.push(`- ${name}: \`${JSON.stringify(r.params)}\``);
  lines.push('');
  const v = report.semrec;
  lines.push(
    `semrec ${v.version}${v.commit ? ` (commit ${v.commit.slice(0, 12)}${v.dirty ? ', with uncommitted changes' : ''})` : ''}; ` +
      `machine: ${report.machine.cpus} CPUs (${report.machine.cpuModel}), Node ${report.machine.node}; ${report.createdAt}.`,
  );
  if (command) {
    lines.push('');
    lines.push('```sh');
    lines.push(command);
    lines.push('```');
  }
  return `${lines.join('\n')}\n`;
}

/** The report as one JSON value (NaN and infinities become null). */
export function renderJson(report: ExperimentReport): string {
  return JSON.stringify(report, (_key, value) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2);
}
