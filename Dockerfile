# flnode site image: one consortium member per container (see docker-compose.p2p.yml).
FROM node:22-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# tfjs-node is optional and not used (wasm/cpu backends); skip it to keep the image small.
RUN npm ci --omit=optional --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY protocol ./protocol
COPY node ./node
COPY scripts/compose-init.sh ./scripts/compose-init.sh
COPY tsconfig.json ./
RUN chmod +x scripts/compose-init.sh && mkdir -p /site /consortium /admin /sites/node-a /sites/node-b /sites/node-c && chown -R node:node /site /consortium /admin /sites
USER node
# libp2p gossip; the status page/API listens on 8600 when --http is given
EXPOSE 4001 8600
ENTRYPOINT ["node", "bin/flnode.mjs"]
CMD ["--help"]
