/**
 * The first value of query parameter `name`, whatever the case of its name (`SubscriptionId`,
 * `subscriptionid`): ASP.NET, which the compatibility API's original clients were written against, binds
 * query parameters case-insensitively. Null when there is none.
 */
export function queryParamAnyCase(url: URL, name: string): string | null {
  const wanted = name.toLowerCase();
  for (const [key, value] of url.searchParams) if (key.toLowerCase() === wanted) return value;
  return null;
}
