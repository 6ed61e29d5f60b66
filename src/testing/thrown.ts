/** What `run` throws, or undefined when it returns: lets a test match the whole error object. */
export function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}
