// The baseline for the edge benchmark: one R2 read per request and the bytes back, with no auth, no
// D1, no cache and no decoding, so `npm run bench` can put the Edge API's cost next to the floor. A
// POST reads its whole body first (and ignores it): the floor of a request that uploads an image, as
// a tokenize cache hit does.

interface Env {
  ARTIFACTS: R2Bucket;
}

export default {
  async fetch(request, env): Promise<Response> {
    // The path is the R2 key: /tokens/<tok_id> or /images/<img_id>.
    if (request.method === 'POST') await request.arrayBuffer();
    const key = decodeURIComponent(new URL(request.url).pathname.slice(1));
    const object = key === '' ? null : await env.ARTIFACTS.get(key);
    if (object === null) return new Response('not found\n', { status: 404 });
    return new Response(object.body, {
      headers: { 'content-type': object.httpMetadata?.contentType ?? 'application/octet-stream' },
    });
  },
} satisfies ExportedHandler<Env>;
