// The program's path in the API: /mynapoint/programs/<id><rest>.

export function programPath(program, rest = "") {
  return `/mynapoint/programs/${encodeURIComponent(program.id)}${rest}`;
}
