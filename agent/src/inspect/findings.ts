import { PersonalDataKind } from '../generated/mamori/v1/events';

/** The order findings are listed in (the enum's), so that equal tallies compare equal. */
const ORDER: readonly PersonalDataKind[] = [
  PersonalDataKind.PERSONAL_DATA_KIND_MY_NUMBER,
  PersonalDataKind.PERSONAL_DATA_KIND_CORPORATE_NUMBER,
  PersonalDataKind.PERSONAL_DATA_KIND_CREDIT_CARD,
  PersonalDataKind.PERSONAL_DATA_KIND_PHONE_NUMBER,
  PersonalDataKind.PERSONAL_DATA_KIND_POSTAL_CODE,
  PersonalDataKind.PERSONAL_DATA_KIND_EMAIL_ADDRESS,
  PersonalDataKind.PERSONAL_DATA_KIND_PERSON_NAME,
  PersonalDataKind.PERSONAL_DATA_KIND_POSTAL_ADDRESS,
];

/** One detector's tally: how many matches of a kind; the matched values are never kept. */
export interface PersonalDataCount {
  kind: PersonalDataKind;
  count: number;
}

/** Counts matches per kind while a file is inspected. Only numbers go in, so nothing matched can leak out. */
export class FindingTally {
  private readonly counts = new Map<PersonalDataKind, number>();

  add(kind: PersonalDataKind, count = 1): void {
    if (count <= 0) return;
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + count);
  }

  count(kind: PersonalDataKind): number {
    return this.counts.get(kind) ?? 0;
  }

  /** The kinds found at least once, in the order of the enum. */
  toFindings(): PersonalDataCount[] {
    return ORDER.filter((kind) => this.count(kind) > 0).map((kind) => ({ kind, count: this.count(kind) }));
  }
}
