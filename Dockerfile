# syntax=docker/dockerfile:1
# The image deploy/herald.yaml and the operator's broker workloads run: `herald operator` or `herald broker`.
FROM node:24-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles its native module when no prebuilt binary fits.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# The dashboard (served at /ui/): `npm run build` bundles it with vite into dist/ui.
COPY ui ./ui
# The image has no .git: pass the commit (`--build-arg HERALD_COMMIT=$(git rev-parse HEAD)`) for
# `herald version` and GET /version.
ARG HERALD_COMMIT=unknown
RUN HERALD_COMMIT="${HERALD_COMMIT}" npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Non-root, matching the pods' runAsUser; the embedded store writes only to its /data volume.
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["broker", "--data-dir", "/data"]
