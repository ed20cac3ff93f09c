/**
 * Nested params (`{train: {lr: 0.1}}`) as dotted keys (`train.lr`), as filters and columns name
 * them; lists, empty objects and values deeper than 8 levels are kept as they are. Shared by the
 * CLI, the MLflow mapping and the webviews.
 */
export function flattenParams(
  params: Record<string, unknown>,
  prefix = '',
  into: Record<string, unknown> = {},
  depth = 0,
): Record<string, unknown> {
  for (const [key, value] of Object.entries(params)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (
      depth < 8 &&
      value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      Object.keys(value).length > 0
    ) {
      flattenParams(value as Record<string, unknown>, name, into, depth + 1);
    }
    // A param named __proto__ is a param, not the result's prototype.
    else Object.defineProperty(into, name, { value, enumerable: true, writable: true, configurable: true });
  }
  return into;
}
