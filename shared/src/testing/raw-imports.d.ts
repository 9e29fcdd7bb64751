// Vite's `?raw` imports (a file's text as a string), which shared's tests use to check the docs
// against the code; shared has no Node types, so no node:fs.
declare module '*?raw' {
  const text: string;
  export default text;
}
