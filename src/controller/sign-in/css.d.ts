/** Style sheets are imported as text (`with { type: "text" }`) to be served from the executable. */
declare module "*.css" {
  const text: string;
  export default text;
}
