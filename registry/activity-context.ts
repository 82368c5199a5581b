/** The current activity context, or undefined when registry code runs outside an activity (CLI, tests). */
import { Context } from '@temporalio/activity';

export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
