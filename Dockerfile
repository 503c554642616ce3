# upwire server image: docker build -t upwire . && docker run -p 3000:3000 -v upwire-data:/data upwire
# Three stages: `build` compiles (it needs the dev dependencies), `deps` installs what the server
# runs with, and the last stage holds only those node_modules, the compiled code and the page.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the project's own `prepare` script is the build, and the sources are not here
# yet (copied below, so this layer is reused while the lockfile does not change). The build needs
# no dependency's install script: esbuild finds its platform package without its postinstall, and
# the native modules (classic-level, bufferutil) are not loaded by a build.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The server's own dependencies (socket.io, socket.io-parser, level, pino, pino-pretty, prom-client)
# are optional peerDependencies, so that a client-only install does not pull them, and devDependencies
# for the build. `npm ci --omit=dev` would therefore leave them out, and a later
# `npm install --no-save <them>` finds them in the lockfile as dev packages and omits them again
# ("up to date"). So this stage rewrites its throwaway package.json to make them plain dependencies
# (dropping devDependencies and the scripts, the `prepare` build among them) and installs from the
# lockfile: npm keeps every locked version that satisfies the ranges (all do), dev packages are
# left out, and the native modules run their install scripts (they pick their prebuilt
# binaries; bufferutil, optional, may be skipped where it has none, and ws then uses plain JS).
RUN node -e " \
      const fs = require('node:fs'); \
      const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')); \
      pkg.dependencies = { ...pkg.dependencies, ...pkg.peerDependencies }; \
      for (const key of ['devDependencies', 'peerDependencies', 'peerDependenciesMeta', 'scripts']) delete pkg[key]; \
      fs.writeFileSync('package.json', JSON.stringify(pkg, null, 2)); \
    " \
 && npm install --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# Listen on every interface of the container; data under the volume; the glibc malloc settings and
# the V8 flag (CMD) of `npm start` (package.json, src/cli/tuning.ts says why).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    UPLOAD_DIR=/data/uploads \
    DB_DIR=/data/db \
    MALLOC_MMAP_THRESHOLD_=33554432 \
    MALLOC_TRIM_THRESHOLD_=268435456 \
    MALLOC_TOP_PAD_=67108864
WORKDIR /app
# Owned by root and read-only to the server's user; only /data is writable.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/public ./dist/public
# The original package.json: "type": "module" makes Node load dist/ as ES modules.
COPY package.json ./
# /data is created and handed to the unprivileged `node` user (uid 1000, from the base image) before
# VOLUME: a new named volume is filled from the image, ownership included, and changes made to a
# path after VOLUME declares it are discarded.
RUN mkdir -p /data/uploads /data/db && chown -R node:node /data
USER node
VOLUME /data
EXPOSE 3000
# upwire serve stops on SIGTERM: it stops accepting, lets downloads and chunks in flight finish (up
# to DRAIN_TIMEOUT, 30 s), closes LevelDB and exits 0. As PID 1, Node would ignore a SIGTERM it has
# no handler for; serve has one. (`docker stop -t 40`, or compose's stop_grace_period, leaves it the time.)
STOPSIGNAL SIGTERM
# Liveness: /healthz never needs a token or an allowed Host. The slim image has no curl; Node has fetch.
# The first check runs one interval after the start (compose starts nginx once it passes).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--initial-old-space-size=64", "dist/src/cli/main.js", "serve"]
