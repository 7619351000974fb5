/** The mynapoint journeys, which part B of issue 13 writes here once mynapoint's routes are typed:
 *  - officer: create a program from a template, upload a roster, fund it, list the municipality's programs,
 *    pause and resume it, list its applications and read its change log;
 *  - resident: a resident app applies, then asks for the resident's status. */
import { test } from "node:test";

test.todo("officer journey (issue 13, part B)");
test.todo("resident journey (issue 13, part B)");
