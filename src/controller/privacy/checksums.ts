/** The check digits that tell a real card number, IBAN or national id from a run of digits. */

/** Luhn (ISO/IEC 7812): payment card numbers. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** ISO 13616: the IBAN, moved and lettered as numbers, is 1 modulo 97. */
export function ibanValid(iban: string): boolean {
  const moved = iban.slice(4) + iban.slice(0, 4);
  let rest = 0;
  for (const ch of moved) {
    const code = ch.charCodeAt(0);
    const value = code >= 65 ? code - 55 : code - 48;
    rest = (value > 9 ? rest * 100 + value : rest * 10 + value) % 97;
  }
  return rest === 1;
}

/** Spain's DNI (8 digits) and NIE (X, Y or Z and 7 digits): the letter is the number modulo 23. */
export function spanishIdValid(id: string): boolean {
  const number = Number(id.slice(0, -1).replace(/^[XYZ]/, (l) => String("XYZ".indexOf(l))));
  return "TRWAGMYFPDXBNJZSQVHLCKE"[number % 23] === id.at(-1);
}

/** A US Social Security number as the SSA issues them: no area 000, 666 or 9xx, no group 00, no serial 0000. */
export function ssnValid(area: string, group: string, serial: string): boolean {
  return area !== "000" && area !== "666" && area[0] !== "9" && group !== "00" && serial !== "0000";
}
