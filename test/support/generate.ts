/** Realistic pipelines of any size for tests (the benchmark has its own generator in test/bench/). */
export function generatePipelineText(stages: number, options: { aliases: boolean }): string {
  const lines = [
    'version: 1',
    'name: generated',
    'params: params.yaml',
    'defaults: { image: localhost/mlpipe-python:3.11, host: local }',
    'hosts:',
    '  gpu-box: { docker: ssh://ml@gpu-box, gpus: 4 }',
  ];
  if (options.aliases) lines.push('x-resources: &gpu { gpus: 1, cpus: 8, memory: 32g, shm: 8g }');
  lines.push('stages:');
  for (let i = 0; i < stages; i++) {
    lines.push(`  s${i}:`);
    lines.push(`    cmd: python src/step.py --lr \${params.train.lr} --seed \${params.seed} --index ${i}`);
    lines.push(`    deps: [src/step.py${i > 0 ? `, out/s${i - 1}.bin` : ''}]`);
    lines.push(`    outs: [out/s${i}.bin]`);
    lines.push(`    metrics: [metrics/s${i}.json]`);
    lines.push('    params: [seed]');
    if (i % 3 === 0) lines.push('    host: gpu-box');
    if (options.aliases)
      lines.push(i % 2 === 0 ? '    resources: *gpu' : '    resources:\n      <<: *gpu\n      cpus: 4');
    else lines.push('    resources: { gpus: 1, cpus: 8, memory: 32g, shm: 8g }');
    lines.push('    timeout: 2h');
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}
